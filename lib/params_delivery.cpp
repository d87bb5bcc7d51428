// params_delivery.cpp - main.cf parameters of qmgr, local-delivery and smtp-client.
#include "lib/params.hpp"

#include <vector>

namespace tern {
namespace {
[[maybe_unused]] constexpr int64_t DAY = 86400;
using T = param_type;

// Rows: {name, type, default, one-line doc, min, max, time unit}.
const std::vector<param_def> rows = {
    // smtp-client: outbound SMTP (smtp(8))
    {"smtp_tls_security_level", T::string, "may", "SMTP client TLS: none, may (opportunistic STARTTLS), encrypt (TLS required, certificate not checked) or verify (certificate and server name checked)."},
    {"smtp_tls_CAfile", T::string, "", "PEM file of trusted CA certificates for smtp_tls_security_level = verify (empty: the system trust store); read before chroot."},
    {"smtp_remote_port", T::integer, "25", "TCP port of remote SMTP servers when the next hop names none (a tern addition, so tests can use other ports).", 1, 65535},
    {"smtp_helo_name", T::string, "$myhostname", "Host name the SMTP client sends with EHLO and HELO."},
    {"smtp_bind_address", T::string, "", "Local IPv4 address of outgoing SMTP connections (empty: the kernel chooses)."},
    {"smtp_bind_address6", T::string, "", "Local IPv6 address of outgoing SMTP connections (empty: the kernel chooses)."},
    {"smtp_address_preference", T::string, "any", "Address family tried first for a mail exchanger with both: any (random), ipv4 or ipv6."},
    {"smtp_connect_timeout", T::time, "30s", "Time limit for the SMTP client to complete a TCP connection.", 1, 3600},
    {"smtp_helo_timeout", T::time, "300s", "Time limit for the server greeting and the EHLO/HELO reply.", 1, 3600},
    {"smtp_starttls_timeout", T::time, "300s", "Time limit for the STARTTLS reply and the TLS handshake.", 1, 3600},
    {"smtp_mail_timeout", T::time, "300s", "Time limit for the reply to MAIL FROM.", 1, 3600},
    {"smtp_rcpt_timeout", T::time, "300s", "Time limit for each reply to RCPT TO.", 1, 3600},
    {"smtp_data_init_timeout", T::time, "120s", "Time limit for the reply to DATA.", 1, 3600},
    {"smtp_data_xfer_timeout", T::time, "180s", "Time limit for progress while sending the message body.", 1, 3600},
    {"smtp_data_done_timeout", T::time, "600s", "Time limit for the reply to the final \".\" of the message.", 1, 7200},
    {"smtp_rset_timeout", T::time, "20s", "Time limit for the reply to RSET (sent before a cached connection is reused).", 1, 3600},
    {"smtp_mx_address_limit", T::integer, "5", "Most server addresses tried for one delivery, over all mail exchangers (0: no limit).", 0, 1000},
    {"smtp_mx_session_limit", T::integer, "2", "Most SMTP sessions (connections that got a greeting) for one delivery before the rest is deferred.", 1, 100},
    {"smtp_skip_5xx_greeting", T::boolean, "yes", "Treat a 5xx greeting like a 4xx one: try the next mail exchanger, defer rather than bounce."},
    {"smtp_line_length_limit", T::integer, "998", "Longest line sent in a message; longer lines are broken with CRLF SPACE (0: no limit).", 0, 1000000},
    {"smtp_reply_line_limit", T::integer, "4096", "Longest reply line accepted from a remote SMTP server (a tern addition).", 512, 1000000},
    {"smtp_reply_line_count_limit", T::integer, "100", "Most lines in one reply from a remote SMTP server (a tern addition).", 1, 100000},
    {"smtp_connection_cache_time_limit", T::time, "2s", "How long an idle connection is kept open for the next message to the same destination (0: no reuse).", 0, 300},
    {"smtp_connection_reuse_time_limit", T::time, "300s", "Age after which a connection is no longer reused.", 1, DAY},
    {"smtp_connection_reuse_count_limit", T::integer, "0", "Messages sent over one connection before it is closed (0: no limit).", 0, 1000000},
    {"smtp_connection_cache_limit", T::integer, "100", "Most idle connections the SMTP client keeps open (a tern addition).", 0, 100000},
    {"disable_mime_output_conversion", T::boolean, "no", "Never convert 8-bit mail to quoted-printable for a server without 8BITMIME (send it as is)."},
};

}  // namespace

std::span<const param_def> params_delivery() { return rows; }

}  // namespace tern
