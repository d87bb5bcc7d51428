// spam_learn.cpp - see spam_learn.hpp.
#include "imapd/spam_learn.hpp"

#include <sys/stat.h>

#include "lib/log.hpp"

namespace tern::imap {

namespace {
constexpr size_t kMaxQueued = 1000;
constexpr uint64_t kMaxQueuedBytes = 64ull << 20;
}  // namespace

void spam_learner::configure(event_loop* loop, std::string socket_path, uint64_t size_limit, bool enabled) {
    _loop = loop;
    _socket = std::move(socket_path);
    _limit = size_limit;
    _enabled = enabled;
}

void spam_learner::learn(const std::string& cls, const std::string& user, std::string message) {
    if (!_enabled || !_loop) return;
    struct stat st;
    if (::stat(_socket.c_str(), &st) != 0) {
        log::debug("spam training: %s not available; %s message of user=%s not learned", _socket.c_str(),
                   cls.c_str(), user.c_str());
        return;
    }
    if (message.size() > _limit) message.resize(size_t(_limit));
    if (_queue.size() >= kMaxQueued || _bytes + message.size() > kMaxQueuedBytes) {
        log::warn("spam training: queue full; %s message of user=%s dropped", cls.c_str(), user.c_str());
        return;
    }
    _bytes += message.size();
    _queue.push_back({cls, user, std::move(message)});
    if (!_req) next();
}

void spam_learner::next() {
    if (_queue.empty()) return;
    item it = std::move(_queue.front());
    _queue.pop_front();
    _bytes -= it.message.size();
    attr_list req;
    req.add("request", "learn").add("class", it.cls).add("user", it.user).add("message", std::move(it.message));
    std::string cls = it.cls, user = it.user;
    _req = ipc_async(*_loop, _socket, req, std::chrono::seconds(30),
                     [this, cls, user](std::optional<attr_list> rep, const std::string& err) {
                         if (!rep)
                             log::debug("spam training: %s: %s", _socket.c_str(), err.c_str());
                         else if (rep->get("status") != "ok")
                             log::warn("spam training for user=%s (%s): %s", user.c_str(), cls.c_str(),
                                       rep->get("reason", rep->get("status")).c_str());
                         else
                             log::info("spam training: user=%s learned as %s", user.c_str(), cls.c_str());
                         auto keep = std::move(_req);  // destroyed after this callback returns
                         _loop->defer_delete(std::move(keep));
                         next();
                     });
}

}  // namespace tern::imap
