// commands.hpp - smtpd's command table and the handler of each command
// (one file per command or family: cmd_helo.cpp, cmd_mail.cpp,
// cmd_rcpt.cpp, cmd_data.cpp, cmd_auth.cpp, cmd_starttls.cpp,
// cmd_misc.cpp). session::dispatch() looks a verb up here.
// SECURITY: every handler gets the untrusted argument of one command line.
#pragma once

#include <string>
#include <string_view>

namespace tern {
struct smtp_path;
}

namespace tern::smtpd {

class session;

enum command_flags : unsigned {
    cmd_before_tls = 1,   // allowed while smtpd_tls_security_level=encrypt waits for STARTTLS
    cmd_during_bdat = 2,  // allowed between BDAT chunks
};

using command_fn = void (*)(session&, std::string_view arg);

struct command_def {
    const char* verb;
    command_fn fn;
    unsigned flags;
};

// nullptr for an unknown verb (verb is upper case).
const command_def* find_command(std::string_view verb);

// The internal form of a MAIL/RCPT path: unqualified addresses get
// @myorigin, the domain is lower-cased, the null path is "".
std::string qualify(const session& s, const smtp_path& p);

// True when s holds a control character (queue files refuse CR, LF, NUL).
inline bool has_controls(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

void cmd_ehlo(session& s, std::string_view arg);
void cmd_helo(session& s, std::string_view arg);
void cmd_mail(session& s, std::string_view arg);
void cmd_rcpt(session& s, std::string_view arg);
void cmd_data(session& s, std::string_view arg);
void cmd_bdat(session& s, std::string_view arg);
void cmd_rset(session& s, std::string_view arg);
void cmd_noop(session& s, std::string_view arg);
void cmd_quit(session& s, std::string_view arg);
void cmd_vrfy(session& s, std::string_view arg);
void cmd_help(session& s, std::string_view arg);
void cmd_etrn(session& s, std::string_view arg);
void cmd_starttls(session& s, std::string_view arg);
void cmd_auth(session& s, std::string_view arg);

}  // namespace tern::smtpd
