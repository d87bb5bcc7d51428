// cleanup.hpp - what happens to a message's header on its way into the
// queue, shared by smtpd (SMTP) and pickup (sendmail): finding where the
// header ends, the facts tern needs from it (Received count for loop
// detection, Message-ID, Date, From present?), the Received header with
// TLS and AUTH details (RFC 5321 4.4, RFC 3848 protocol names), and the
// Message-ID, Date and From headers added to submitted mail. Everything
// else in the message stays byte-exact.
// SECURITY: the header comes from a client; the scan is linear and bounded
// by header_size_limit, and client-supplied text put into Received (HELO
// name, user name) is made printable first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace tern {

// Where the header of buf (LF line ends) ends, scanning whole lines from
// *pos on (keep *pos between calls while buf grows). The header ends at an
// empty line (the result points past it) or at the first line that is
// neither a header field nor a continuation (the result points at it).
// nullopt: no end yet; *pos then marks the start of the last partial line.
struct header_end {
    size_t body_offset = 0;    // first byte of the body
    size_t header_size = 0;    // bytes of header fields (without the empty line)
    bool separator = false;    // an empty line was there
};
std::optional<header_end> find_header_end(std::string_view buf, size_t* pos);

// What cleanup needs to know about a header.
struct header_facts {
    size_t received = 0;  // Received: fields (hop count)
    bool message_id = false, date = false, from = false, sender = false;
    bool resent = false;  // Resent-* fields present
    std::string message_id_value;
};
header_facts scan_header(std::string_view header, size_t max_size);

// RFC 5322 date-time in local time: "Wed, 25 Nov 2026 14:07:43 +0000 (UTC)".
std::string rfc5322_date(std::time_t t);
// "<20261125140743.3F1B2C0A1D@mail.example.com>"
std::string make_message_id(std::string_view queue_id, std::string_view host, std::time_t t);

// RFC 3848 / RFC 6531 "with" keyword: SMTP, ESMTP, ESMTPA, ESMTPS,
// ESMTPSA, UTF8SMTP, UTF8SMTPA, UTF8SMTPS, UTF8SMTPSA.
std::string smtp_with_protocol(bool esmtp, bool tls, bool auth, bool utf8);

struct received_info {
    // from clause (SMTP); empty helo and client_addr give a local "by ... from userid" form
    std::string helo;          // HELO/EHLO argument as sent
    std::string client_name;   // verified host name or "unknown"
    std::string client_addr;   // "192.0.2.1" / "IPv6:2001:db8::1" style is added here
    std::string tls;           // describe_tls(): "TLSv1.3 with cipher ..." (empty: none)
    std::string auth_user;     // empty: not shown
    // by clause
    std::string by_host, mail_name;
    std::string protocol;      // with-clause keyword (smtp_with_protocol), "local" for pickup
    std::string queue_id;
    std::string for_rcpt;      // shown only when set (one recipient)
    long uid = -1;             // pickup: "from userid N"
    std::time_t when = 0;
};
// The whole field, folded, each line ended by LF.
std::string make_received(const received_info& r);

}  // namespace tern
