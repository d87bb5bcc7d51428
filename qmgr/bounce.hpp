// bounce.hpp - delivery status notifications (RFC 3464 multipart/report,
// RFC 6533 message/global-delivery-status for SMTPUTF8 mail) composed as a
// pure function of the original message and the per-recipient results, and
// the rules deciding who gets which notice (NOTIFY, RET, null sender,
// postmaster copies). The qmgr (qmgr/finish.cpp) writes the result into a
// new queue file. Text is LF-terminated, like every queued message.
// SECURITY: result texts come from remote servers and addresses from
// clients; every value placed in a header field is made one-line and
// printable, long fields are folded, and the original message is attached
// as data, never interpreted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::qmgr {

// What the notice reports.
enum class dsn_kind {
    failure,         // Action: failed   -> "Undelivered Mail Returned to Sender"
    delay,           // Action: delayed  -> a warning, delivery is still being tried
    success,         // Action: delivered / relayed / expanded
    postmaster_copy  // a failed notice (double bounce) sent to the postmaster
};

struct dsn_recipient {
    std::string address;     // Final-Recipient (the address delivered to)
    std::string orcpt;       // "rfc822;addr" as in the envelope ("" if none)
    std::string action;      // failed | delayed | delivered | relayed | expanded
    std::string status;      // RFC 3463 code, e.g. "5.1.1"
    std::string reason;      // one line for people
    std::string remote_mta;  // host name of the remote MTA ("" if none)
    std::string diagnostic;  // "smtp; 550 5.1.1 ..." ("" if none)
    int64_t last_attempt = 0;  // UNIX seconds (0: unknown)
};

struct dsn_input {
    dsn_kind kind = dsn_kind::failure;
    std::string reporting_mta;   // myhostname
    std::string from;            // From: address of the notice, e.g. MAILER-DAEMON@host
    std::string to;              // envelope sender of the original (the notice's recipient)
    std::string message_id;      // Message-ID of the notice, without <>
    std::string queue_id;        // the original's queue ID
    std::string original_sender; // for the text ("" = null sender)
    std::string envid;           // ENVID of the original ("" if none)
    int64_t arrival = 0;         // arrival of the original, UNIX seconds
    int64_t now = 0;             // date of the notice, UNIX seconds
    int64_t will_retry_until = 0;  // delay notices: end of the queue lifetime
    bool return_full = false;    // attach the whole original (else headers only)
    bool smtputf8 = false;       // the original needs SMTPUTF8: RFC 6533 types
    std::string_view original_headers;  // the original's header block (LF line ends)
    std::string_view original_message;  // the whole original (only used with return_full)
    bool too_large = false;      // return_full was asked for but the message is over the limit
    std::string boundary;        // MIME boundary (unique per notice)
    std::vector<dsn_recipient> rcpts;
};

struct dsn_message {
    std::string text;        // header + body, LF line ends
    bool eight_bit = false;  // contains 8-bit bytes: BODY=8BITMIME
};

dsn_message compose_dsn(const dsn_input& in);

// RFC 5322 date-time in local time, e.g. "Tue, 4 Mar 2025 10:00:00 +0100".
std::string rfc5322_date(int64_t unix_seconds);

// Fold "Name: value" at white space so lines stay near 78 octets; the
// continuation lines start with one space. The input is made one-line first.
std::string fold_field(std::string_view name, std::string_view value);

// NOTIFY bits (same values as lib/queue's dsn_notify).
namespace notify_bits {
inline constexpr uint8_t success = 1, failure = 2, delay = 4, never = 8;
}

// Who is told what: RFC 3461 defaults (no NOTIFY = FAILURE, plus DELAY when
// delay warnings are enabled) and never anything for NOTIFY=NEVER.
bool wants_failure_notice(uint8_t notify);
bool wants_delay_notice(uint8_t notify, bool delay_warnings_enabled);
bool wants_success_notice(uint8_t notify);

}  // namespace tern::qmgr
