// commands.cpp - the command table (see commands.hpp).
#include "smtpd/commands.hpp"

namespace tern::smtpd {

namespace {
const command_def table[] = {
    {"EHLO", cmd_ehlo, cmd_before_tls},
    {"HELO", cmd_helo, cmd_before_tls},
    {"MAIL", cmd_mail, 0},
    {"RCPT", cmd_rcpt, 0},
    {"DATA", cmd_data, 0},
    {"BDAT", cmd_bdat, cmd_during_bdat},
    {"RSET", cmd_rset, cmd_before_tls | cmd_during_bdat},
    {"NOOP", cmd_noop, cmd_before_tls | cmd_during_bdat},
    {"QUIT", cmd_quit, cmd_before_tls | cmd_during_bdat},
    {"VRFY", cmd_vrfy, 0},
    {"HELP", cmd_help, cmd_before_tls},
    {"ETRN", cmd_etrn, 0},
    {"STARTTLS", cmd_starttls, cmd_before_tls},
    {"AUTH", cmd_auth, 0},
};
}  // namespace

const command_def* find_command(std::string_view verb) {
    for (const auto& c : table)
        if (verb == c.verb) return &c;
    return nullptr;
}

}  // namespace tern::smtpd
