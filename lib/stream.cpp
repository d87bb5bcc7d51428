// stream.cpp - see stream.hpp.
#include "lib/stream.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "lib/log.hpp"
#include "lib/tls.hpp"

namespace tern {

void bufferevent_deleter::operator()(bufferevent* b) const noexcept { bufferevent_free(b); }

stream::stream(event_loop& loop, unique_fd fd, stream_handler& h, bool connecting)
    : _loop(loop), _h(h), _connecting(connecting) {
    _peer.len = sizeof _peer.ss;
    ::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&_peer.ss), &_peer.len);
    _local.len = sizeof _local.ss;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&_local.ss), &_local.len);
    set_nonblocking(fd.get());
    _bev.reset(bufferevent_socket_new(loop.base(), fd.release(), BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS));
    if (!_bev) log::fatal("bufferevent_socket_new failed");
    install_callbacks();
    _kick.reset(event_new(loop.base(), -1, 0, &stream::kick_cb, this));
}

stream::~stream() { close(); }

void stream::install_callbacks() {
    bufferevent_setcb(_bev.get(), &stream::read_cb, &stream::write_cb, &stream::event_cb, this);
    bufferevent_enable(_bev.get(), EV_READ | EV_WRITE);
    if (_rto.count() || _wto.count()) set_timeouts(_rto, _wto);
}

bool stream::start_tls_server(SSL_CTX* ctx) {
    if (!_bev || _ssl) return false;
    // Throw away anything the client sent before the handshake.
    evbuffer_drain(bufferevent_get_input(_bev.get()), evbuffer_get_length(bufferevent_get_input(_bev.get())));
    SSL* ssl = SSL_new(ctx);
    if (!ssl) return false;
    bufferevent* under = _bev.release();
    bufferevent* tls = bufferevent_openssl_filter_new(_loop.base(), under, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!tls) {
        SSL_free(ssl);
        _bev.reset(under);
        return false;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
    _ssl = ssl;
    _bev.reset(tls);
    _handshaking = true;
    install_callbacks();
    return true;
}

bool stream::start_tls_client(SSL_CTX* ctx, const std::string& server_name) {
    if (!_bev || _ssl) return false;
    evbuffer_drain(bufferevent_get_input(_bev.get()), evbuffer_get_length(bufferevent_get_input(_bev.get())));
    SSL* ssl = SSL_new(ctx);
    if (!ssl) return false;
    if (!server_name.empty()) {
        SSL_set_tlsext_host_name(ssl, server_name.c_str());
        SSL_set1_host(ssl, server_name.c_str());
    }
    bufferevent* under = _bev.release();
    bufferevent* tls = bufferevent_openssl_filter_new(_loop.base(), under, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!tls) {
        SSL_free(ssl);
        _bev.reset(under);
        return false;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
    _ssl = ssl;
    _bev.reset(tls);
    _handshaking = true;
    install_callbacks();
    return true;
}

evbuffer* stream::input() const { return _bev ? bufferevent_get_input(_bev.get()) : nullptr; }
evbuffer* stream::output() const { return _bev ? bufferevent_get_output(_bev.get()) : nullptr; }
size_t stream::pending_output() const {
    if (!_bev) return 0;
    size_t n = evbuffer_get_length(bufferevent_get_output(_bev.get()));
    // with TLS, encrypted bytes may still wait in the socket bufferevent below
    if (bufferevent* under = bufferevent_get_underlying(_bev.get()))
        n += evbuffer_get_length(bufferevent_get_output(under));
    return n;
}

void stream::close_later(int ms) {
    if (!_bev || !_kick) return;
    event_del(_kick.get());
    struct timeval tv{0, ms * 1000};
    event_add(_kick.get(), &tv);
}

void stream::write(std::string_view data) {
    if (_bev && !_closing) bufferevent_write(_bev.get(), data.data(), data.size());
}

void stream::write_evbuffer(evbuffer* src) {
    if (_bev && !_closing) bufferevent_write_buffer(_bev.get(), src);
}

void stream::set_timeouts(std::chrono::seconds read, std::chrono::seconds write) {
    _rto = read;
    _wto = write;
    if (!_bev) return;
    struct timeval r{static_cast<time_t>(read.count()), 0}, w{static_cast<time_t>(write.count()), 0};
    bufferevent_set_timeouts(_bev.get(), read.count() ? &r : nullptr, write.count() ? &w : nullptr);
}

void stream::pause_reading() {
    if (_bev) bufferevent_disable(_bev.get(), EV_READ);
}

void stream::resume_reading() {
    if (_bev && !_closing) bufferevent_enable(_bev.get(), EV_READ);
}

void stream::kick() {
    if (_bev && _kick && !event_pending(_kick.get(), EV_TIMEOUT, nullptr)) {
        struct timeval tv{0, 0};
        event_add(_kick.get(), &tv);
    }
}

void stream::close_after_flush() {
    if (!_bev) return;
    _closing = true;
    bufferevent_disable(_bev.get(), EV_READ);
    _close_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    // Report the close from the loop, never from inside the caller.
    if (evbuffer_get_length(bufferevent_get_output(_bev.get())) == 0) kick();
}

void stream::close() {
    if (_kick) event_del(_kick.get());
    if (!_bev) return;
    if (_ssl) SSL_set_shutdown(_ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    bufferevent_setcb(_bev.get(), nullptr, nullptr, nullptr, nullptr);
    _bev.reset();
    _ssl = nullptr;
}

std::string stream::tls_description() const { return describe_tls(_ssl); }

void stream::fail(const std::string& why) {
    close();
    _h.on_closed(why);
}

void stream::read_cb(bufferevent*, void* arg) noexcept {
    auto self = static_cast<stream*>(arg);
    if (self->_closing) return;
    guard("stream read", [self] { self->_h.on_readable(); });
}

void stream::kick_cb(int, short, void* arg) noexcept {
    auto self = static_cast<stream*>(arg);
    if (!self->_bev) return;
    if (self->_closing) {
        // the last bytes (TLS: below the filter too) must leave before the close
        if (self->pending_output() > 0 && std::chrono::steady_clock::now() < self->_close_deadline) {
            self->close_later(10);
            return;
        }
        self->close();
        guard("stream closed", [self] { self->_h.on_closed("closed"); });
        return;
    }
    guard("stream kick", [self] { self->_h.on_readable(); });
}

void stream::write_cb(bufferevent* bev, void* arg) noexcept {
    auto self = static_cast<stream*>(arg);
    if (evbuffer_get_length(bufferevent_get_output(bev)) != 0) return;
    if (self->_closing) {
        self->kick();  // kick_cb closes once everything has left
        return;
    }
    guard("stream flushed", [self] { self->_h.on_flushed(); });
}

void stream::event_cb(bufferevent*, short what, void* arg) noexcept {
    auto self = static_cast<stream*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
        if (self->_handshaking) {
            self->_handshaking = false;
            guard("stream tls", [self] { self->_h.on_tls_ready(); });
        } else if (self->_connecting) {
            self->_connecting = false;
            self->_peer.len = sizeof self->_peer.ss;
            ::getpeername(bufferevent_getfd(self->_bev.get()), reinterpret_cast<sockaddr*>(&self->_peer.ss),
                          &self->_peer.len);
            self->_local.len = sizeof self->_local.ss;
            ::getsockname(bufferevent_getfd(self->_bev.get()), reinterpret_cast<sockaddr*>(&self->_local.ss),
                          &self->_local.len);
            guard("stream connected", [self] { self->_h.on_connected(); });
        }
        return;
    }
    std::string why;
    if (what & BEV_EVENT_TIMEOUT)
        why = "timeout";
    else if (what & BEV_EVENT_EOF)
        why = "lost connection";
    else if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(self->_bev.get());
        if (e) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            why = std::string("TLS error: ") + buf;
        } else {
            int err = EVUTIL_SOCKET_ERROR();
            why = err ? evutil_socket_error_to_string(err) : "connection error";
        }
    } else {
        return;
    }
    // Unread input may still hold complete commands (e.g. QUIT then EOF).
    if ((what & BEV_EVENT_EOF) && !self->_closing && evbuffer_get_length(self->input()) > 0)
        guard("stream read", [self] { self->_h.on_readable(); });
    if (!self->_bev) return;  // the handler closed us
    guard("stream fail", [self, why] { self->fail(why); });
}

}  // namespace tern
