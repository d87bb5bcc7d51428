// cmd_starttls.cpp - STARTTLS (RFC 3207): answer 220 in the clear, then
// switch the connection to TLS; whatever the client sent after the command
// is thrown away, and the session starts over once the handshake is done.
// SECURITY: plaintext pipelined behind STARTTLS is never executed.
#include "smtpd/commands.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

void cmd_starttls(session& s, std::string_view arg) {
    if (!arg.empty()) {
        s.error(501, "5.5.4", "Syntax: STARTTLS");
        return;
    }
    if (s.tls_active) {
        s.error(554, "5.5.1", "Error: TLS already active");
        return;
    }
    if (s.ctx.s.tls == tls_level::none || !s.ctx.tls_ctx) {
        s.error(502, "5.5.1", "Error: command not implemented");
        return;
    }
    if (s.tx.active) {
        s.error(503, "5.5.1", "Error: MAIL transaction in progress");
        return;
    }
    s.reply(220, "2.0.0", "Ready to start TLS");
    if (!s.start_tls()) s.fatal_reply(454, "4.7.0", "TLS not available due to local problem");
}

}  // namespace tern::smtpd
