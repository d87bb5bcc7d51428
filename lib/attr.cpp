// attr.cpp - see attr.hpp.
#include "lib/attr.hpp"

#include <cerrno>
#include <chrono>
#include <event2/buffer.h>
#include <poll.h>
#include <unistd.h>

namespace tern {

const std::string* attr_list::find(std::string_view name) const {
    for (const auto& [n, v] : items)
        if (n == name) return &v;
    return nullptr;
}

std::string attr_list::get(std::string_view name, std::string_view dflt) const {
    auto v = find(name);
    return v ? *v : std::string(dflt);
}

std::vector<std::string> attr_list::all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : items)
        if (n == name) out.push_back(v);
    return out;
}

std::optional<std::string> attr_encode(const attr_list& list, bool escape) {
    std::string out;
    for (const auto& [n, v] : list.items) {
        if (n.empty() || n.find_first_of("=\n\r") != std::string::npos) return std::nullopt;
        out += n;
        out += '=';
        if (escape) {
            for (char c : v) {
                switch (c) {
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\0': out += "\\0"; break;
                default: out += c;
                }
            }
        } else {
            if (v.find_first_of("\n\r") != std::string::npos) return std::nullopt;
            out += v;
        }
        out += '\n';
    }
    out += '\n';
    return out;
}

void attr_parser::reset() {
    _list = {};
    _partial.clear();
    _total = 0;
    _error.clear();
    _failed = false;
}

attr_list attr_parser::take() {
    attr_list l = std::move(_list);
    reset();
    return l;
}

attr_parser::status attr_parser::line(std::string_view l) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) return status::done;
    auto eq = l.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        _error = "malformed attribute line (expected name=value)";
        return status::error;
    }
    if (_list.items.size() >= _lim.max_count) {
        _error = "too many attributes (limit " + std::to_string(_lim.max_count) + ")";
        return status::error;
    }
    std::string name(l.substr(0, eq));
    std::string_view raw = l.substr(eq + 1);
    std::string value;
    if (_lim.escape) {
        value.reserve(raw.size());
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\') {
                value += raw[i];
                continue;
            }
            if (i + 1 >= raw.size()) {
                _error = "attribute value ends in a lone backslash";
                return status::error;
            }
            char c = raw[++i];
            switch (c) {
            case '\\': value += '\\'; break;
            case 'n': value += '\n'; break;
            case 'r': value += '\r'; break;
            case '0': value += '\0'; break;
            default: _error = "bad escape in attribute value"; return status::error;
            }
        }
    } else {
        value = std::string(raw);
    }
    _list.items.emplace_back(std::move(name), std::move(value));
    return status::need_more;
}

attr_parser::status attr_parser::feed(std::string_view data, size_t& consumed) {
    consumed = 0;
    if (_failed) return status::error;
    while (consumed < data.size()) {
        auto nl = data.find('\n', consumed);
        if (nl == std::string_view::npos) {
            size_t n = data.size() - consumed;
            if (_partial.size() + n > _lim.max_line) {
                _error = "attribute line too long (limit " + std::to_string(_lim.max_line) + ")";
                _failed = true;
                return status::error;
            }
            _partial.append(data.substr(consumed));
            consumed = data.size();
            _total += n;
            break;
        }
        size_t n = nl - consumed;
        if (_partial.size() + n > _lim.max_line) {
            _error = "attribute line too long (limit " + std::to_string(_lim.max_line) + ")";
            _failed = true;
            return status::error;
        }
        _total += n + 1;
        if (_total > _lim.max_total) {
            _error = "attribute list too large (limit " + std::to_string(_lim.max_total) + " bytes)";
            _failed = true;
            return status::error;
        }
        status st;
        if (_partial.empty()) {
            st = line(data.substr(consumed, n));
        } else {
            _partial.append(data.substr(consumed, n));
            st = line(_partial);
            _partial.clear();
        }
        consumed = nl + 1;
        if (st == status::error) {
            _failed = true;
            return st;
        }
        if (st == status::done) return st;
    }
    if (_total > _lim.max_total) {
        _error = "attribute list too large (limit " + std::to_string(_lim.max_total) + " bytes)";
        _failed = true;
        return status::error;
    }
    return status::need_more;
}

attr_parser::status attr_parser::feed(struct evbuffer* buf) {
    for (;;) {
        size_t len = evbuffer_get_length(buf);
        if (len == 0) return status::need_more;
        // work on the first contiguous chunk
        struct evbuffer_iovec v;
        if (evbuffer_peek(buf, -1, nullptr, &v, 1) < 1) return status::need_more;
        size_t used = 0;
        auto st = feed(std::string_view(static_cast<const char*>(v.iov_base), v.iov_len), used);
        evbuffer_drain(buf, used);
        if (st != status::need_more) return st;
    }
}

static int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

bool attr_stream::write(const attr_list& list, int timeout_ms, std::string& err) {
    auto enc = attr_encode(list, _escape);
    if (!enc) {
        err = "attribute cannot be encoded (newline in a raw value or bad name)";
        return false;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    const char* p = enc->data();
    size_t left = enc->size();
    while (left > 0) {
        struct pollfd pfd{_fd, POLLOUT, 0};
        int r = ::poll(&pfd, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            err = r == 0 ? "timeout writing request" : "poll failed";
            return false;
        }
        ssize_t n = ::write(_fd, p, left);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            err = std::string("write failed: ") + std::to_string(errno);
            return false;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    return true;
}

std::optional<attr_list> attr_stream::read(int timeout_ms, std::string& err) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (!_buf.empty()) {
            size_t used = 0;
            auto st = _parser.feed(_buf, used);
            _buf.erase(0, used);
            if (st == attr_parser::status::done) return _parser.take();
            if (st == attr_parser::status::error) {
                err = _parser.error();
                return std::nullopt;
            }
        }
        struct pollfd pfd{_fd, POLLIN, 0};
        int r = ::poll(&pfd, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            err = r == 0 ? "timeout waiting for reply" : "poll failed";
            return std::nullopt;
        }
        char tmp[8192];
        ssize_t n = ::read(_fd, tmp, sizeof tmp);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            err = "read failed";
            return std::nullopt;
        }
        if (n == 0) {
            err = "connection closed by peer";
            return std::nullopt;
        }
        _buf.append(tmp, static_cast<size_t>(n));
    }
}

}  // namespace tern
