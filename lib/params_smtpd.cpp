// params_smtpd.cpp - main.cf parameters of smtpd (SMTP server), sendmail, pickup and the queue tools.
#include "lib/params.hpp"

#include <vector>

namespace tern {
namespace {
[[maybe_unused]] constexpr int64_t DAY = 86400;
using T = param_type;

// Rows: {name, type, default, one-line doc, min, max, time unit}.
const std::vector<param_def> rows = {
    // --- smtpd: identity and protocol
    {"mail_name", T::string, "tern", "The mail system's name in the SMTP greeting and in Received headers."},
    {"smtpd_banner", T::string, "$myhostname ESMTP $mail_name", "Text after 220 in the SMTP greeting; must start with the host name."},
    {"smtpd_discard_ehlo_keywords", T::list, "", "EHLO keywords smtpd does not announce (e.g. pipelining, chunking, etrn)."},
    {"smtpd_helo_required", T::boolean, "no", "Require HELO or EHLO before MAIL FROM."},
    {"smtpd_delay_reject", T::boolean, "yes", "Evaluate client, HELO and sender restrictions at RCPT TO, so rejections name the recipient."},
    {"disable_vrfy_command", T::boolean, "no", "Answer VRFY with 502 instead of the non-committal 252."},
    {"smtpd_peername_lookup", T::boolean, "yes", "Look up the client's host name (PTR, then A/AAAA back to the address) at connect."},
    {"smtpd_forbid_bare_newline", T::boolean, "yes", "Refuse (521, disconnect) a command or DATA line with a bare LF or bare CR; no means a bare LF ends a line, but only CRLF.CRLF ends DATA."},
    {"always_add_missing_headers", T::boolean, "no", "Add Message-ID, Date and From to every message that lacks them, not only to submitted mail (AUTH, sendmail)."},
    {"hopcount_limit", T::integer, "50", "Most Received headers a message may carry before it is refused as a mail loop.", 1, 10000},

    // --- smtpd: limits
    {"smtpd_recipient_limit", T::integer, "1000", "Most recipients accepted per message (452 4.5.3 beyond).", 1, 100000},
    {"line_length_limit", T::integer, "2048", "Longest SMTP command line, in bytes (500 5.5.2 beyond).", 512, 1000000},
    {"header_size_limit", T::size, "102400", "Largest message header, in bytes: smtpd and pickup refuse a larger one (552 5.3.4); header parsing examines no more.", 1024},
    {"smtpd_hard_error_limit", T::integer, "20", "Errors in one session before smtpd answers 421 and disconnects.", 1, 100000},
    {"smtpd_soft_error_limit", T::integer, "10", "Errors in one session after which each error reply is delayed by smtpd_error_sleep_time.", 0, 100000},
    {"smtpd_error_sleep_time", T::time, "1s", "Delay of each error reply once smtpd_soft_error_limit is reached.", 0, 600},
    {"smtpd_timeout", T::time, "300s", "Idle time allowed while smtpd waits for a command (421 4.4.2 and disconnect).", 1, DAY},
    {"smtpd_data_timeout", T::time, "$smtpd_timeout", "Idle time allowed while smtpd waits for message data (DATA or BDAT).", 1, DAY},
    {"smtpd_starttls_timeout", T::time, "300s", "Time limit for a TLS handshake.", 1, 3600},
    {"smtpd_client_connection_count_limit", T::integer, "50", "Simultaneous connections one client address may have to one smtpd process (0: no limit).", 0, 100000},
    {"smtpd_output_buffer_limit", T::size, "262144", "Unread replies smtpd holds for a pipelining client before it stops reading its commands.", 4096},

    // --- smtpd: TLS and AUTH
    {"smtpd_tls_security_level", T::string, "may", "STARTTLS: none (not offered), may (offered), encrypt (required before MAIL and AUTH)."},
    {"smtpd_tls_wrappermode", T::boolean, "no", "Implicit TLS from the first byte (smtps, port 465)."},
    {"smtpd_tls_cert_file", T::string, "$tls_cert_file", "PEM certificate chain smtpd offers."},
    {"smtpd_tls_key_file", T::string, "$tls_key_file", "PEM private key for smtpd_tls_cert_file."},
    {"smtpd_tls_received_header", T::boolean, "yes", "Put the TLS protocol and cipher into the Received header."},
    {"smtpd_tls_auth_only", T::boolean, "yes", "Offer and accept AUTH only over TLS."},
    {"smtpd_sasl_auth_enable", T::boolean, "yes", "Offer SMTP AUTH (PLAIN, LOGIN), checked by the auth service."},
    {"smtpd_sasl_authenticated_header", T::boolean, "yes", "Put the authenticated user name into the Received header."},
    {"smtpd_auth_timeout", T::time, "30s", "Time limit for an answer from the auth service.", 1, 3600},

    // --- smtpd: who may send what
    {"smtpd_client_restrictions", T::list, "", "Restrictions on the client's address and name (checked at RCPT TO with smtpd_delay_reject)."},
    {"smtpd_helo_restrictions", T::list, "", "Restrictions on the HELO/EHLO name."},
    {"smtpd_sender_restrictions", T::list, "", "Restrictions on the MAIL FROM address."},
    {"smtpd_relay_restrictions", T::list, "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination", "Relay control at RCPT TO; the default relays only for mynetworks and logged-in clients."},
    {"smtpd_recipient_restrictions", T::list, "", "Further restrictions at RCPT TO (after smtpd_relay_restrictions)."},
    {"smtpd_data_restrictions", T::list, "", "Restrictions at DATA or the first BDAT."},
    {"smtpd_content_check_service", T::string, "", "Content service asked after the data, before the message is queued (private/spamc: spamd's classifier); empty: none. Its headers are prepended; a failure adds X-Spam-Status: unchecked."},
    {"smtpd_content_check_timeout", T::time, "60s", "Time limit for one content check; afterwards the message is accepted unchecked.", 1, 3600},
    {"smtpd_end_of_data_restrictions", T::list, "", "Restrictions after the message data, before it is queued."},
    {"smtpd_etrn_restrictions", T::list, "", "Restrictions on the domain of ETRN."},
    {"smtpd_reject_unlisted_recipient", T::boolean, "yes", "Refuse (550 5.1.1) recipients unknown in local, virtual and relay domains."},
    {"local_recipient_maps", T::list, "unix:passwd.byname $alias_maps", "Users of the mydestination domains: unix:passwd.byname (system accounts) and tables; empty accepts any local part."},
    {"virtual_alias_domains", T::list, "", "Domains whose addresses all go through virtual_alias_maps."},
    {"relay_recipient_maps", T::list, "", "Valid recipients in relay_domains; empty accepts any."},
    {"smtpd_policy_service_timeout", T::time, "100s", "Time limit for an answer from a check_policy_service server.", 1, 3600},
    {"smtpd_policy_service_max_idle", T::time, "300s", "Close an idle connection to a policy server after this time.", 1, DAY},
    {"smtpd_policy_service_max_ttl", T::time, "1000s", "Close a connection to a policy server after this age.", 1, DAY},
    {"smtpd_policy_service_default_action", T::string, "451 4.3.5 Server configuration problem", "Action when a policy server does not answer."},
    {"smtpd_dns_reply_timeout", T::time, "$dns_timeout", "Time limit for one DNS check made by a restriction.", 1, 600},

    // reply codes of the restrictions (Postfix names)
    {"reject_code", T::integer, "554", "Reply code of the reject restriction.", 400, 599},
    {"defer_code", T::integer, "450", "Reply code of the defer restriction.", 400, 499},
    {"access_map_reject_code", T::integer, "554", "Reply code of a REJECT access-table result.", 400, 599},
    {"access_map_defer_code", T::integer, "450", "Reply code of a DEFER access-table result.", 400, 499},
    {"relay_domains_reject_code", T::integer, "554", "Reply code of reject_unauth_destination.", 400, 599},
    {"invalid_hostname_reject_code", T::integer, "501", "Reply code of reject_invalid_helo_hostname.", 400, 599},
    {"non_fqdn_reject_code", T::integer, "504", "Reply code of reject_non_fqdn_helo_hostname, _sender and _recipient.", 400, 599},
    {"unknown_address_reject_code", T::integer, "550", "Reply code when a sender or recipient domain has no MX, A or AAAA record, or a null MX.", 400, 599},
    {"unknown_address_tempfail_code", T::integer, "450", "Reply code when the DNS check of a sender or recipient domain fails temporarily.", 400, 499},
    {"unknown_client_reject_code", T::integer, "450", "Reply code of reject_unknown_client_hostname and reject_unknown_reverse_client_hostname.", 400, 599},
    {"unknown_local_recipient_reject_code", T::integer, "550", "Reply code for an unknown user in a mydestination domain.", 400, 599},
    {"unknown_virtual_mailbox_reject_code", T::integer, "550", "Reply code for an unknown user in a virtual mailbox domain.", 400, 599},
    {"unknown_virtual_alias_reject_code", T::integer, "550", "Reply code for an unknown user in a virtual alias domain.", 400, 599},
    {"unknown_relay_recipient_reject_code", T::integer, "550", "Reply code for a recipient not in relay_recipient_maps.", 400, 599},
    {"plaintext_reject_code", T::integer, "450", "Reply code of a restriction that needs TLS (reserved).", 400, 599},

    // queue writes (lib/queue_commit)
    {"queue_commit_threads", T::integer, "4", "Threads per smtpd process that fsync finished queue files in parallel (group commit).", 1, 64},
};

}  // namespace

std::span<const param_def> params_smtpd() { return rows; }

}  // namespace tern
