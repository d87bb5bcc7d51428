// sendmail.hpp - the Sendmail-compatible submission command, shared by its
// parts: option handling and -t (sendmail.cpp), SMTP on standard input for
// -bs (sendmail_bs.cpp) and the write into maildrop/ (sendmail_drop.cpp).
// A message always goes to queue_directory/maildrop/ as a queue file, so
// submission works while tern is stopped; pickup(8) takes it from there
// (woken through public/pickup when tern runs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/config.hpp"
#include "lib/queue_file.hpp"

namespace tern::sendmail {

// sysexits(3)
enum exit_code : int {
    ex_ok = 0,
    ex_usage = 64,
    ex_dataerr = 65,
    ex_noinput = 66,
    ex_nouser = 67,
    ex_unavailable = 69,
    ex_software = 70,
    ex_oserr = 71,
    ex_cantcreat = 73,
    ex_ioerr = 74,
    ex_tempfail = 75,
    ex_noperm = 77,
    ex_config = 78,
};

struct submission {
    std::string sender;                 // qualified internal form; "" is the null sender
    std::vector<recipient> recipients;  // qualified
    std::string full_name;              // -F
    std::string envid;                  // -V
    dsn_ret ret = dsn_ret::unspecified; // -R
    body_type body = body_type::unspecified;  // -B
    bool smtputf8 = false;
    std::string message;                // header + body, LF line ends
};

// Writes the submission into maildrop/ (fsynced) and wakes pickup.
// Returns ex_ok or a sysexits code; err explains a failure. id gets the
// maildrop file's queue ID.
int drop_message(const config& cfg, const submission& sub, std::string& id, std::string& err);

// "user" -> "user@myorigin"; domains lower-cased; "<>" and "" stay "".
std::string qualify_address(const config& cfg, const std::string& addr);

// -bs: an SMTP dialogue on standard input/output; each message is dropped.
int run_smtp_session(const config& cfg);

}  // namespace tern::sendmail
