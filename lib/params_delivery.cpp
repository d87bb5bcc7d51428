// params_delivery.cpp - main.cf parameters of qmgr, local-delivery and smtp-client.
#include "lib/params.hpp"

#include <vector>

namespace tern {
namespace {
[[maybe_unused]] constexpr int64_t DAY = 86400;
using T = param_type;

// Rows: {name, type, default, one-line doc, min, max, time unit}.
const std::vector<param_def> rows = {
    // qmgr: scheduling (qmgr(8))
    {"qmgr_message_active_limit", T::integer, "20000", "Most messages the queue manager keeps in active/ (and in memory) at once; the rest waits on disk.", 1, 1000000},
    {"qmgr_message_recipient_limit", T::integer, "20000", "Most recipients of active messages held in memory at once (a bigger message still gets in alone).", 1, 10000000},
    {"default_destination_concurrency_limit", T::integer, "20", "Most deliveries in parallel to one destination (the window grows to it from initial_destination_concurrency).", 1, 1000},
    {"initial_destination_concurrency", T::integer, "5", "Parallel deliveries to a destination before it has proved it works (slow start).", 1, 1000},
    {"destination_concurrency_failed_cohort_limit", T::integer, "1", "Failed deliveries in a row, with the window at one, after which a destination is marked dead for a while.", 1, 1000},
    {"default_destination_recipient_limit", T::integer, "50", "Most recipients in one delivery request.", 1, 100000},
    {"local_destination_concurrency_limit", T::integer, "2", "Parallel deliveries to one system user of mydestination.", 1, 1000},
    {"local_destination_recipient_limit", T::integer, "1", "Recipients per request to local delivery for mydestination users (1: each user is its own destination).", 1, 100000},
    {"virtual_destination_concurrency_limit", T::integer, "$default_destination_concurrency_limit", "Parallel deliveries to one virtual mailbox.", 1, 1000},
    {"virtual_destination_recipient_limit", T::integer, "1", "Recipients per request to local delivery for virtual mailboxes.", 1, 100000},
    {"smtp_destination_concurrency_limit", T::integer, "$default_destination_concurrency_limit", "Parallel SMTP deliveries to one next hop.", 1, 1000},
    {"smtp_destination_recipient_limit", T::integer, "$default_destination_recipient_limit", "Most recipients in one request to the SMTP client.", 1, 100000},
    {"qmgr_transport_request_limit", T::integer, "100", "Most delivery requests in flight to one delivery agent (a tern addition; agents serve many requests each).", 1, 100000},
    {"transport_retry_time", T::time, "60s", "Longest pause before the queue manager tries a delivery agent again that it could not reach (pauses double from one second).", 1, DAY},
    {"qmgr_delivery_timeout", T::time, "3600s", "Time limit for one delivery request; its recipients are deferred when it passes (a tern addition).", 10, DAY},
    {"qmgr_sync_threads", T::integer, "4", "Threads the queue manager uses to fsync recorded results in parallel (a tern addition).", 1, 64},
    {"qmgr_dead_destination_time", T::time, "$minimal_backoff_time", "How long a destination that failed is left alone before it is tried again (a tern addition).", 1, DAY},
    {"minimal_backoff_time", T::time, "300s", "Shortest time before a deferred message is tried again (the wait doubles per attempt).", 1, DAY},
    {"maximal_backoff_time", T::time, "4000s", "Longest time between attempts for a deferred message.", 1, 7 * DAY},
    {"maximal_queue_lifetime", T::time, "5d", "How long a message may stay in the queue before it is returned to the sender.", 0, 100 * DAY, 'd'},
    {"bounce_queue_lifetime", T::time, "5d", "How long a delivery status notice (null sender) may stay in the queue.", 0, 100 * DAY, 'd'},
    {"delay_warning_time", T::time, "0h", "Send the sender a delay notice when a message is still queued after this long (0: never).", 0, 100 * DAY, 'h'},
    {"queue_run_delay", T::time, "300s", "How often the queue manager looks through deferred/ for messages whose retry time has come.", 1, DAY},
    {"default_transport", T::string, "smtp", "Transport for recipients outside mydestination and virtual_mailbox_domains."},
    {"local_transport", T::string, "local", "Transport for recipients in mydestination."},
    {"virtual_transport", T::string, "virtual", "Transport for recipients in virtual_mailbox_domains (served by local-delivery)."},
    {"transport_maps", T::list, "", "Tables mapping addresses and domains to transport:nexthop (e.g. example.net smtp:[10.0.0.1]:25, or error:5.1.1 text)."},

    // bounces and delivery status notices
    {"bounce_size_limit", T::size, "50000", "Largest original message returned whole in a notice; bigger ones are returned as headers only.", 0},
    {"double_bounce_sender", T::string, "double-bounce", "Sender of postmaster notices about undeliverable notices; mail to it, and its own failures, are dropped."},
    {"2bounce_notice_recipient", T::string, "postmaster", "Who gets notices that could not be delivered to their sender."},

    // local-delivery: local(8)
    {"home_mailbox", T::string, "", "Mailbox of system users relative to their home: Maildir/ (maildir) or Mailbox (mbox); empty: mail_spool_directory."},
    {"mail_spool_directory", T::string, "/var/mail", "Directory of system users' mbox files when home_mailbox is empty."},
    {"forward_path", T::list, "$home/.forward${recipient_delimiter}${extension}, $home/.forward", "Where local delivery looks for a system user's .forward file ($home, $user, $extension, $recipient_delimiter)."},
    {"allow_mail_to_commands", T::list, "alias, forward", "Where a |command target may appear: alias, forward, include."},
    {"allow_mail_to_files", T::list, "alias, forward", "Where a /file target may appear: alias, forward, include."},
    {"default_privs", T::string, "nobody", "Account that runs commands and writes files named in aliases."},
    {"command_time_limit", T::time, "1000s", "Time limit for a |command delivery.", 1, DAY},
    {"mailbox_size_limit", T::size, "51200000", "Largest mbox file, and largest maildir message, local delivery writes (0: no limit).", 0},
    {"local_spam_folder", T::string, "Junk", "Maildir++ folder for mail with X-Spam-Flag: YES (empty: the inbox) (a tern addition)."},
    {"local_delivery_process_limit", T::integer, "100", "Most processes local-delivery runs at once: mailbox workers (idle ones too) and per-delivery children for commands and forwards (a tern addition).", 1, 10000},
    {"local_delivery_worker_idle_time", T::time, "60s", "How long a mailbox worker (a process that has become one user and delivers that user's mail) is kept idle before it exits (a tern addition).", 1, 3600},
    {"local_delivery_worker_max_use", T::integer, "1000", "Deliveries a mailbox worker makes before it is replaced by a fresh process (a tern addition).", 1, 1000000},
    {"local_expansion_depth_limit", T::integer, "20", "Deepest nesting of aliases, .forward and :include: files (a tern addition).", 1, 1000},
    {"local_expansion_limit", T::integer, "1000", "Most destinations one recipient may expand to (a tern addition).", 1, 1000000},
    {"local_header_limit", T::size, "1048576", "Most header bytes local delivery reads for Delivered-To and X-Spam-Flag (a tern addition).", 1024},
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
