// content.hpp - spamd's content service on private/spamc (internal attr
// protocol, docs/internal-protocols.md): request=classify from smtpd after
// DATA, request=learn from imapd when a user moves mail into or out of
// Junk, request=ping. The Bayesian classifier (lib/bayes) runs on worker
// threads; every failure is an answer (status=error, reason=...), never a
// dropped connection, so smtpd can fail open with a header.
// SECURITY: message bytes come from SMTP clients; a request is bounded by
// spamd_classify_size_limit before it is read completely, and the
// classifier bounds its own work (bayes_message_size_limit, token limit).
#pragma once

#include <memory>
#include <string>

#include "lib/attr.hpp"
#include "lib/bayes.hpp"
#include "lib/config.hpp"
#include "lib/event.hpp"
#include "lib/ipc.hpp"
#include "lib/workers.hpp"

namespace spamd {

class content_service {
public:
    bool init(const tern::config& cfg, tern::event_loop& loop, std::string& err);
    // One request; respond runs later, on the loop.
    void handle(const tern::attr_list& req, tern::attr_responder respond);
    // Limits for the attr codec of this service (the message is one value).
    tern::attr_limits limits() const;
    // Before the event loop goes.
    void stop();

private:
    void classify(const tern::attr_list& req, tern::attr_responder respond);
    void learn(const tern::attr_list& req, tern::attr_responder respond);
    std::string user_of(const std::string& address) const;

    size_t _size_limit = 512 * 1024;
    std::string _delimiter;
    std::optional<double> _reject;  // spamd_reject_threshold
    double _dnsbl_weight = 0.05;
    std::unique_ptr<tern::bayes::classifier> _classifier;
    std::unique_ptr<tern::worker_pool> _pool;
};

// The score an X-Spam-DNSBL header (added by the dnsbl check in prepend
// mode) gives, from the first one in the message's header; 0 when none.
// Only positive scores count: a forged header can only hurt its sender.
int dnsbl_score_of(std::string_view message);

}  // namespace spamd
