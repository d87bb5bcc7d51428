// content.hpp - spamd's content service on private/spamc (internal attr
// protocol, docs/internal-protocols.md): request=classify from smtpd after
// DATA, request=learn from imapd when a user moves mail into or out of
// Junk, request=ping. Every failure is an answer (status=error, reason=...),
// never a dropped connection, so smtpd can fail open with a header.
// SECURITY: message bytes come from SMTP clients; requests are bounded by
// spamd_classify_size_limit before they are read completely.
#pragma once

#include <string>

#include "lib/attr.hpp"
#include "lib/config.hpp"

namespace spamd {

class content_service {
public:
    bool init(const tern::config& cfg, std::string& err);
    // One request, one reply.
    tern::attr_list handle(const tern::attr_list& req);
    // Limits for the attr codec of this service (the message is one value).
    tern::attr_limits limits() const;

private:
    size_t _size_limit = 10u << 20;
};

}  // namespace spamd
