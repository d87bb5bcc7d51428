// session.cpp - IMAP session life cycle: greeting, reading and framing
// commands, dispatch through the command table, the work budget per loop
// turn, streamed output with back-pressure, untagged updates of the
// selected mailbox (EXISTS / EXPUNGE / FETCH FLAGS at the moments RFC 3501
// 7.4.1 allows), IDLE wake-ups and the autologout timer.
#include "imapd/session.hpp"

#include <algorithm>
#include <cerrno>
#include <event2/buffer.h>
#include <event2/event.h>
#include <unistd.h>

#include "imapd/format.hpp"
#include "lib/log.hpp"
#include "lib/utf8.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

namespace {
constexpr size_t kHighWater = 256 * 1024;  // output queued before a job waits for the client
constexpr size_t kChunk = 64 * 1024;       // bytes of a message slice written at once
constexpr size_t kInputHigh = 256 * 1024;  // unread input that pauses reading
constexpr int kCommandsPerTurn = 32;
constexpr int kStepsPerTurn = 4;
constexpr size_t kCacheLimit = 4u << 20;   // a message kept for the next command
constexpr size_t kHeaderReadLimit = 1u << 20;

void notifier_cb(int, short, void* arg) noexcept {
    auto* d = static_cast<daemon_state*>(arg);
    guard("imapd notifier", [d] {
        for (uint64_t cookie : d->notifier.read_events()) {
            auto it = d->watchers.find(cookie);
            if (it != d->watchers.end()) it->second->on_mailbox_changed();
        }
    });
}
}  // namespace

void daemon_state::start_notifier() {
    if (auto st = notifier.init(); !st) {
        log::warn("inotify unavailable (%s): IDLE reports changes only at the next command", st.reason.c_str());
        return;
    }
    notifier_event.reset(event_new(srv->loop.base(), notifier.fd(), EV_READ | EV_PERSIST, notifier_cb, this));
    event_add(notifier_event.get(), nullptr);
}

const mime_tree& loaded_message::mime() {
    if (!tree) tree = parse_mime(wire);
    return *tree;
}

std::optional<uint32_t> selected_box::seq_of(uint32_t uid) const {
    auto it = std::lower_bound(uids.begin(), uids.end(), uid);
    if (it == uids.end() || *it != uid) return std::nullopt;
    return uint32_t(it - uids.begin() + 1);
}

bool selected_box::is_gone(uint32_t uid) const { return std::binary_search(gone.begin(), gone.end(), uid); }

// ---------------------------------------------------------------- life cycle

session::session(daemon_state& d, unique_fd fd) : _d(d), _framer(d.flim) {
    _s = std::make_unique<stream>(d.srv->loop, std::move(fd), *this);
    _peer = _s->peer().host();
    // no read timeout on the stream: the autologout timer says BYE first
    _s->set_timeouts(std::chrono::seconds(0), d.idle_timeout);
    _timer = std::make_unique<timer>(d.srv->loop, [this] {
        log::info("%s: autologout user=%s after %lld s idle", _peer.c_str(), _user.empty() ? "-" : _user.c_str(),
                  static_cast<long long>((_state == state::not_authenticated ? _d.login_timeout : _d.idle_timeout).count()));
        shutdown("Autologout; idle for too long");
    });
    reset_timer();
    d.sessions.insert(this);
}

session::~session() { _d.sessions.erase(this); }

void session::start(daemon_state& d, unique_fd fd) {
    auto s = std::make_unique<session>(d, std::move(fd));
    session* p = s.get();
    p->_self = std::move(s);
    log::info("connect from %s%s", p->_peer.c_str(), d.wrapper ? " (implicit TLS)" : "");
    if (d.wrapper) {
        if (!d.tls || !p->_s->start_tls_server(d.tls.get())) {
            log::warn("no TLS context for implicit TLS; closing %s", p->_peer.c_str());
            p->finish();
            return;
        }
        p->_tls_pending = true;  // greet once the handshake is done
        return;
    }
    p->write("* OK [CAPABILITY " + p->capabilities() + "] tern IMAP4rev1 server ready\r\n");
}

void session::on_tls_ready() {
    if (!_tls_pending) return;
    _tls_pending = false;
    log::info("%s: TLS established: %s", _peer.c_str(), _s->tls_description().c_str());
    if (_d.wrapper && _commands == 0) write("* OK [CAPABILITY " + capabilities() + "] tern IMAP4rev1 server ready\r\n");
    _s->kick();
}

void session::reset_timer() {
    if (_timer) _timer->start(std::chrono::duration_cast<std::chrono::milliseconds>(
        _state == state::not_authenticated ? _d.login_timeout : _d.idle_timeout));
}

void session::shutdown(const std::string& why) {
    if (!_s || _s->closed() || _s->closing()) return;
    // a running job may be the caller: it is dropped by finish(), never here
    _outq.clear();
    _s->write("* BYE " + why + "\r\n");
    _s->close_after_flush();
}

void session::on_closed(const std::string& why) {
    if (_state == state::logout)
        log::info("%s: disconnect user=%s", _peer.c_str(), _user.c_str());
    else
        log::info("%s: disconnect user=%s (%s)", _peer.c_str(), _user.empty() ? "-" : _user.c_str(), why.c_str());
    finish();
}

void session::finish() {
    _job = nullptr;
    _outq.clear();
    _auth_req.reset();
    if (_timer) _timer->stop();
    if (_sel) deselect(true);
    _cache.reset();
    _store.reset();
    if (_counted_user) {
        auto it = _d.per_user.find(_user);
        if (it != _d.per_user.end() && --it->second == 0) _d.per_user.erase(it);
        _counted_user = false;
    }
    if (_s) {
        _s->close();
        _d.srv->loop.defer_delete(std::move(_s));
    }
    if (_self) _d.srv->loop.defer_delete(std::move(_self));
}

// ---------------------------------------------------------------- output

bool session::output_full() const { return !_s || _s->pending_output() >= kHighWater || !_outq.empty(); }

void session::write(std::string_view data) {
    if (!_s || _s->closed()) return;
    if (!_outq.empty()) {
        _outq.push_back(out_piece{std::string(data), nullptr, 0, 0});
        return;
    }
    _s->write(data);
}

void session::untagged(const std::string& line) { write("* " + line + "\r\n"); }

void session::queue(out_piece p) {
    if (!p.buf && _outq.empty()) {
        write(p.text);
        return;
    }
    _outq.push_back(std::move(p));
}

bool session::flush_queue() {
    while (!_outq.empty()) {
        if (!_s || _s->closed()) return false;
        if (_s->pending_output() >= kHighWater) return false;  // on_flushed resumes
        out_piece& p = _outq.front();
        if (!p.buf) {
            _s->write(p.text);
            _outq.pop_front();
            continue;
        }
        size_t n = std::min(kChunk, p.length);
        _s->write(std::string_view(*p.buf).substr(p.offset, n));
        p.offset += n;
        p.length -= n;
        if (p.length == 0) _outq.pop_front();
    }
    return true;
}

void session::start_job(std::function<bool()> step) { _job = std::move(step); }

// ---------------------------------------------------------------- input

void session::on_readable() { drive(); }
void session::on_flushed() { drive(); }

void session::drive() {
    int commands = 0, steps = 0;
    while (_s && !_s->closed() && !_s->closing()) {
        if (!flush_queue()) return;
        if (_job) {
            if (_s->pending_output() >= kHighWater) return;  // wait for the client to read
            if (steps++ >= kStepsPerTurn) {
                _s->kick();
                return;
            }
            if (_job()) _job = nullptr;
            continue;
        }
        if (_busy || _tls_pending) break;
        if (commands++ >= kCommandsPerTurn) {
            _s->kick();
            return;
        }
        if (!read_command()) break;
    }
    if (!_s || _s->closed() || _s->closing()) return;
    // back-pressure on input: a client that floods commands while we work waits in its socket
    if (evbuffer_get_length(_s->input()) > kInputHigh && (_busy || _job))
        _s->pause_reading();
    else
        _s->resume_reading();
}

bool session::read_command() {
    evbuffer* in = _s->input();
    if (evbuffer_get_length(in) == 0) return false;
    evbuffer_iovec v[1];
    if (evbuffer_peek(in, -1, nullptr, v, 1) < 1) return false;
    size_t used = 0;
    auto r = _framer.feed(std::string_view(static_cast<const char*>(v[0].iov_base), v[0].iov_len), used);
    evbuffer_drain(in, used);
    switch (r) {
    case framer::result::need_more:
        return evbuffer_get_length(in) > 0;
    case framer::result::continuation:
        write("+ Ready for literal data\r\n");
        return true;
    case framer::result::line_too_long:
        log::warn("%s: command line too long; disconnecting", _peer.c_str());
        shutdown("Command line too long");
        return false;
    case framer::result::literal_too_big: {
        std::string tag = _framer.tag();
        uint64_t n = _framer.literal_size();
        log::warn("%s: literal of %llu bytes refused (limit %llu)", _peer.c_str(), static_cast<unsigned long long>(n),
                  static_cast<unsigned long long>(_d.flim.literal_limit));
        if (!_framer.literal_sync() || _mode != mode::command) {
            shutdown("[TOOBIG] Literal too large");
            return false;
        }
        _framer.reset();
        command c;
        c.tag = tag.empty() ? "*" : tag;
        write(c.tag + " NO [TOOBIG] Literal too large (limit " + std::to_string(_d.flim.literal_limit) + " bytes)\r\n");
        if (++_errors >= _d.error_limit) shutdown("Too many invalid commands");
        return true;
    }
    case framer::result::complete:
        break;
    }
    std::string bytes = _framer.take();
    reset_timer();
    if (_mode != mode::command) {
        got_line_in_mode(std::move(bytes));
        return true;
    }
    command c;
    parse_error err;
    if (!parse_command(std::move(bytes), c, err)) {
        command e;
        e.tag = err.tag.empty() ? "*" : err.tag;
        bad(e, err.reason);
        return true;
    }
    dispatch(c);
    return true;
}

void session::got_line_in_mode(std::string line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (_mode == mode::idle) {
        end_idle(line);
        return;
    }
    _mode = mode::command;
    std::string tag = std::move(_mode_tag);
    if (line == "*") {
        command c;
        c.tag = tag;
        bad(c, "AUTHENTICATE cancelled");
        return;
    }
    sasl_response(tag, line);
}

void session::dispatch(command& c) {
    ++_commands;
    const command_row* row = find_command(c.name);
    if (!row) return bad(c, "Unknown command " + printable(c.name, 32));
    bool pre = row->pre, auth = row->auth, sel = row->sel;
    if (c.uid && !row->uid) return bad(c, "UID " + c.name + " is not a command");
    bool allowed = (_state == state::not_authenticated && pre) || (_state == state::authenticated && auth) ||
                   (_state == state::selected && sel);
    if (!allowed) {
        if (_state == state::not_authenticated) return no(c, "Not logged in");
        if (pre && !auth) return no(c, "Already logged in");
        return no(c, "No mailbox selected");
    }
    (this->*(row->fn))(c);
}

// ---------------------------------------------------------------- replies

namespace {
bool expunges_allowed(const command& c) {
    if (c.uid) return true;
    return !(c.name == "FETCH" || c.name == "STORE" || c.name == "SEARCH" || c.name == "SORT" || c.name == "THREAD");
}
}  // namespace

void session::done(const command& c, const std::string& text) {
    if (_state == state::selected && _sel) send_updates(expunges_allowed(c));
    write(c.tag + " " + text + "\r\n");
}

void session::bad(const command& c, const std::string& text) {
    write(c.tag + " BAD " + text + "\r\n");
    if (++_errors >= _d.error_limit) {
        log::warn("%s: too many errors (%u); disconnecting", _peer.c_str(), _errors);
        shutdown("Too many invalid commands");
    }
}

// ---------------------------------------------------------------- selected mailbox

void session::send_updates(bool allow_expunge) {
    if (!_sel || !_s || _s->closed()) return;
    selected_box& s = *_sel;
    mailbox::changes ch;
    if (auto st = s.f->sync(ch); !st) {
        log::warn("%s: user=%s: sync %s: %s", _peer.c_str(), _user.c_str(), s.name.c_str(), st.reason.c_str());
        if (st.err == ENOENT) {
            shutdown("Mailbox " + s.name + " was deleted");
            return;
        }
    }
    if (ch.uidvalidity_changed) {
        log::warn("%s: user=%s: %s: UIDVALIDITY changed; disconnecting", _peer.c_str(), _user.c_str(), s.name.c_str());
        shutdown("[UIDVALIDITY] Mailbox was rebuilt; UIDs changed");
        return;
    }
    for (uint32_t uid : ch.expunged)
        if (s.seq_of(uid) && !s.is_gone(uid)) s.gone.insert(std::lower_bound(s.gone.begin(), s.gone.end(), uid), uid);
    for (uint32_t uid : ch.flags_changed)
        if (!s.is_gone(uid) && s.seq_of(uid)) s.flag_updates.insert(uid);
    if (ch.keywords_changed || s.flags_changed) {
        s.flags_changed = false;
        std::string fl = flag_list(mailbox::flag::imap_mask, 0, {}, false);
        fl.pop_back();
        for (auto& k : s.f->keywords()) fl += " " + k;
        untagged("FLAGS " + fl + ")");
        if (!s.read_only)
            untagged("OK [PERMANENTFLAGS " + fl + (s.f->can_create_keywords() ? " \\*)" : ")") + "] Flags permitted.");
    }
    if (allow_expunge && !s.gone.empty()) {
        size_t reported = 0;
        if (_qresync) {
            untagged("VANISHED " + format_set(s.gone));
            for (uint32_t uid : s.gone) {
                auto it = std::lower_bound(s.uids.begin(), s.uids.end(), uid);
                if (it != s.uids.end() && *it == uid) {
                    s.uids.erase(it);
                    ++reported;
                }
            }
        } else {
            std::string out;
            for (auto it = s.gone.rbegin(); it != s.gone.rend(); ++it) {
                auto seq = s.seq_of(*it);
                if (!seq) continue;
                out += "* " + std::to_string(*seq) + " EXPUNGE\r\n";
                s.uids.erase(s.uids.begin() + (*seq - 1));
                ++reported;
                if (out.size() > kChunk) {
                    write(out);
                    out.clear();
                }
            }
            write(out);
        }
        for (uint32_t uid : s.gone) s.flag_updates.erase(uid);
        s.gone.clear();
        s.exists_sent = s.exists_sent >= reported ? s.exists_sent - reported : 0;
    }
    // new messages: whatever the folder holds above the last UID we know
    uint32_t last = s.uids.empty() ? 0 : s.uids.back();
    size_t n = s.f->count(), lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s.f->at(mid).uid <= last) lo = mid + 1;
        else hi = mid;
    }
    bool added = lo < n;
    for (size_t i = lo; i < n; i++) s.uids.push_back(s.f->at(i).uid);
    if (s.uids.size() != s.exists_sent) {
        untagged(std::to_string(s.uids.size()) + " EXISTS");
        s.exists_sent = s.uids.size();
    }
    if (added) {
        uint32_t recent = s.f->counts().recent;
        if (recent != s.recent_sent) {
            untagged(std::to_string(recent) + " RECENT");
            s.recent_sent = recent;
        }
    }
    if (!s.flag_updates.empty()) {
        std::string out;
        const auto& kw = s.f->keywords();
        for (uint32_t uid : s.flag_updates) {
            auto seq = s.seq_of(uid);
            const mailbox::message* m = s.f->find(uid);
            if (!seq || !m) continue;
            out += "* " + std::to_string(*seq) + " FETCH (UID " + std::to_string(uid) + " FLAGS " +
                   flag_list(m->flags, m->keywords, kw, s.f->is_recent(uid));
            if (_condstore) out += " MODSEQ (" + std::to_string(m->modseq) + ")";
            out += ")\r\n";
            if (out.size() > kChunk) {
                write(out);
                out.clear();
            }
        }
        write(out);
        s.flag_updates.clear();
    }
}

void session::expunged_here(const std::vector<uint32_t>& uids) {
    if (!_sel) return;
    auto& g = _sel->gone;
    for (uint32_t uid : uids)
        if (_sel->seq_of(uid) && !_sel->is_gone(uid)) g.insert(std::lower_bound(g.begin(), g.end(), uid), uid);
}

void session::watch_selected(bool on) {
    if (!_sel) return;
    if (on && !_sel->cookie && _d.notifier_event) {
        uint64_t cookie = _d.next_cookie++;
        if (auto st = _d.notifier.watch(*_sel->f, cookie); !st) {
            log::warn("%s: user=%s: cannot watch %s: %s", _peer.c_str(), _user.c_str(), _sel->name.c_str(),
                      st.reason.c_str());
            return;
        }
        _sel->cookie = cookie;
        _d.watchers[cookie] = this;
    } else if (!on && _sel->cookie) {
        _d.notifier.unwatch(_sel->cookie);
        _d.watchers.erase(_sel->cookie);
        _sel->cookie = 0;
    }
}

void session::deselect(bool checkpoint) {
    if (!_sel) return;
    watch_selected(false);
    if (checkpoint && !_sel->read_only)
        if (auto st = _sel->f->checkpoint(); !st)
            log::warn("%s: user=%s: checkpoint %s: %s", _peer.c_str(), _user.c_str(), _sel->name.c_str(),
                      st.reason.c_str());
    _sel.reset();
    _cache.reset();
    if (_state == state::selected) _state = state::authenticated;
}

void session::on_mailbox_changed() {
    if (_mode != mode::idle || !_sel) return;
    send_updates(true);
}

// ---------------------------------------------------------------- arguments

std::optional<std::vector<uint32_t>> session::resolve_set(std::string_view text, bool uid, std::string& err,
                                                          bool* any_gone) {
    auto set = seq_set::parse(text);
    if (!set) {
        err = "Invalid sequence set " + printable(text, 40);
        return std::nullopt;
    }
    const selected_box& s = *_sel;
    std::vector<uint32_t> out;
    bool gone = false;
    if (!uid) {
        uint32_t n = uint32_t(s.uids.size());
        seq_set r = set->resolved(n);
        if (r.max() > n) {
            err = "Invalid message number " + std::to_string(r.max()) + " (mailbox has " + std::to_string(n) +
                  " messages)";
            return std::nullopt;
        }
        for (auto& rg : r.ranges())
            for (uint64_t q = rg.lo; q <= rg.hi; q++) {
                uint32_t u = s.uids[size_t(q - 1)];
                if (s.is_gone(u)) gone = true;
                else out.push_back(u);
            }
    } else {
        seq_set r = set->resolved(s.uids.empty() ? 0 : s.uids.back());
        for (auto& rg : r.ranges()) {
            auto it = std::lower_bound(s.uids.begin(), s.uids.end(), rg.lo);
            for (; it != s.uids.end() && *it <= rg.hi; ++it) {
                if (s.is_gone(*it)) gone = true;
                else out.push_back(*it);
            }
        }
    }
    if (any_gone) *any_gone = gone;
    return out;
}

std::optional<std::string> session::mailbox_arg(const arg& a, std::string& err) {
    if (!a.is_astring()) {
        err = "Mailbox name expected";
        return std::nullopt;
    }
    std::string reason;
    if (!modified_utf7_valid(a.text, &reason)) {
        err = "Invalid mailbox name: " + reason;
        return std::nullopt;
    }
    auto n = mailbox::normalize_folder_name(a.text, &reason);
    if (!n) err = "Invalid mailbox name: " + reason;
    return n;
}

std::shared_ptr<loaded_message> session::load(uint32_t uid, bool header_only, int* err) {
    if (err) *err = 0;
    if (!_sel) return nullptr;
    if (_cache && _cache->uid == uid && _cache_box == _sel->name && _cache_validity == _sel->f->uidvalidity() &&
        (header_only || !_cache->header_only))
        return _cache;
    std::string raw;
    bool partial = false;
    mailbox::status st;
    if (header_only) {
        unique_fd fd;
        st = _sel->f->open_message(uid, fd);
        if (st) {
            char buf[16384];
            for (;;) {
                ssize_t n = ::read(fd.get(), buf, sizeof buf);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) {
                    st = mailbox::status::from_errno("read message");
                    break;
                }
                if (n == 0) break;
                size_t before = raw.size();
                raw.append(buf, size_t(n));
                size_t from = before >= 3 ? before - 3 : 0;
                if (raw.find("\n\n", from) != std::string::npos || raw.find("\n\r\n", from) != std::string::npos ||
                    raw.size() >= kHeaderReadLimit) {
                    partial = true;
                    break;
                }
            }
        } else if (st.err == ENOTSUP) {
            st = _sel->f->read(uid, raw);
        }
    } else {
        st = _sel->f->read(uid, raw);
    }
    if (!st) {
        if (err) *err = st.err;
        if (st.err == ENOENT)
            log::debug("%s: user=%s: %s: UID %u was expunged meanwhile", _peer.c_str(), _user.c_str(),
                       _sel->name.c_str(), uid);
        else
            log::warn("%s: user=%s: %s: read UID %u: %s", _peer.c_str(), _user.c_str(), _sel->name.c_str(), uid,
                      st.reason.c_str());
        return nullptr;
    }
    auto m = std::make_shared<loaded_message>();
    m->uid = uid;
    m->wire = to_crlf(raw);
    if (partial) {
        // keep the header (through its empty line) only
        auto h = parse_header(m->wire);
        m->wire.resize(std::min(m->wire.size(), h.size));
        m->header_only = true;
    }
    if (m->wire.size() <= kCacheLimit) {
        _cache = m;
        _cache_box = _sel->name;
        _cache_validity = _sel->f->uidvalidity();
    }
    return m;
}

}  // namespace tern::imap
