// spam_learn.hpp - imapd's spam training hook: when a user copies or moves
// a message into Junk (spam) or out of Junk (ham), the message goes to
// spamd's private/spamc service as `request=learn` (docs/internal-protocols.md).
// Fire and forget: requests are queued per process and sent one at a time;
// the client's command never waits for them. Used by cmd_copy.cpp.
// SECURITY: the queue is bounded in messages and bytes; messages are cut
// at imapd_spam_learn_size_limit; a missing socket only logs at debug level.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "lib/event.hpp"
#include "lib/ipc.hpp"

namespace tern::imap {

class spam_learner {
public:
    void configure(event_loop* loop, std::string socket_path, uint64_t size_limit, bool enabled);
    bool enabled() const { return _enabled; }
    uint64_t size_limit() const { return _limit; }
    // Queue one message for training; cls is "spam" or "ham".
    void learn(const std::string& cls, const std::string& user, std::string message);
    size_t queued() const { return _queue.size(); }

private:
    void next();
    struct item {
        std::string cls, user, message;
    };
    event_loop* _loop = nullptr;
    std::string _socket;
    uint64_t _limit = 1 << 20;
    bool _enabled = false;
    std::deque<item> _queue;
    uint64_t _bytes = 0;
    std::unique_ptr<ipc_request> _req;
};

}  // namespace tern::imap
