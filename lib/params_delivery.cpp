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
    {"local_delivery_process_limit", T::integer, "100", "Most deliveries local-delivery runs at once (each in its own child process) (a tern addition).", 1, 10000},
    {"local_expansion_depth_limit", T::integer, "20", "Deepest nesting of aliases, .forward and :include: files (a tern addition).", 1, 1000},
    {"local_expansion_limit", T::integer, "1000", "Most destinations one recipient may expand to (a tern addition).", 1, 1000000},
    {"local_header_limit", T::size, "1048576", "Most header bytes local delivery reads for Delivered-To and X-Spam-Flag (a tern addition).", 1024},
};

}  // namespace

std::span<const param_def> params_delivery() { return rows; }

}  // namespace tern
