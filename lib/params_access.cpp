// params_access.cpp - main.cf parameters of the mailbox library, pop3d and imapd.
#include "lib/params.hpp"

#include <vector>

namespace tern {
namespace {
[[maybe_unused]] constexpr int64_t DAY = 86400;
using T = param_type;

// Rows: {name, type, default, one-line doc, min, max, time unit}.
const std::vector<param_def> rows = {
    // pop3d
    {"pop3d_allow_plaintext_auth", T::boolean, "no", "Allow USER/PASS and AUTH on connections without TLS."},
    {"pop3d_tls_wrappermode", T::boolean, "no", "Start TLS at connect (port 995) instead of waiting for STLS."},
    {"pop3d_tls_cert_file", T::string, "$tls_cert_file", "PEM certificate chain pop3d offers (STLS and port 995)."},
    {"pop3d_tls_key_file", T::string, "$tls_key_file", "PEM private key for pop3d_tls_cert_file."},
    {"pop3d_idle_timeout", T::time, "10m", "Idle time after which pop3d closes a session (RFC 1939: at least 10 minutes).", 1, DAY},
    {"pop3d_line_length_limit", T::integer, "4096", "Longest POP3 command line (and SASL response) accepted.", 256, 1048576},
    {"pop3d_error_limit", T::integer, "10", "Errors after which pop3d ends a session.", 1, 1000},
    // imapd (docs/imapd.md)
    {"imapd_allow_plaintext_auth", T::boolean, "no", "Allow LOGIN and AUTHENTICATE on connections without TLS (LOGINDISABLED is advertised otherwise)."},
    {"imapd_tls_wrappermode", T::boolean, "no", "Start TLS at connect (port 993) instead of waiting for STARTTLS."},
    {"imapd_tls_cert_file", T::string, "$tls_cert_file", "PEM certificate chain imapd offers (STARTTLS and port 993)."},
    {"imapd_tls_key_file", T::string, "$tls_key_file", "PEM private key for imapd_tls_cert_file."},
    {"imapd_idle_timeout", T::time, "30m", "Inactivity after which imapd logs out an authenticated session, IDLE included (RFC 3501: at least 30 minutes).", 1, DAY},
    {"imapd_login_timeout", T::time, "60s", "Inactivity after which imapd drops a session that has not logged in.", 1, 3600},
    {"imapd_literal_size_limit", T::size, "50m", "Largest literal (an APPENDed message) imapd accepts; larger ones are refused before their data is read.", 1024, int64_t(1) << 32},
    {"imapd_line_length_limit", T::size, "64k", "Longest IMAP command line between literals; a longer one ends the session.", 1024, 16 << 20},
    {"imapd_error_limit", T::integer, "10", "Bad commands and failed logins after which imapd ends a session.", 1, 1000},
    {"imapd_user_session_limit", T::integer, "100", "Sessions one user may hold in one imapd process (0: no limit).", 0, 1000000},
    {"imapd_spam_training", T::boolean, "yes", "Send messages copied or moved into Junk (spam) or out of Junk (ham) to spamd's private/spamc for training."},
    {"imapd_spam_learn_size_limit", T::size, "1m", "Bytes of a message sent to spamd for training (the rest is cut).", 1024, 64 << 20},
    // mailbox library (lib/mailbox*.cpp, docs/mailbox.md)
    {"mailbox_folder_limit", T::integer, "10000", "Most folders one mail store may hold (CREATE beyond it fails, LIST stops there).", 1, 1000000},
    {"mailbox_fsync", T::boolean, "yes", "Sync each change of a folder index to disk before answering (UIDs and modseqs survive a crash)."},
    {"mailbox_index_log_limit", T::size, "1m", "Fold a folder's index change log into a new snapshot once the log grows past this (or a quarter of the snapshot).", 4096, int64_t(1) << 32},
    {"mailbox_index_size_limit", T::size, "512m", "Largest folder index file read; a larger one is treated as damaged and rebuilt.", 1 << 20, int64_t(1) << 40},
    {"mailbox_lock_timeout", T::time, "30s", "How long to wait for a folder index lock or an mbox lock before a temporary failure.", 1, 3600},
    {"mailbox_vanished_limit", T::integer, "50000", "Expunged UIDs remembered per folder for QRESYNC VANISHED (older ones are reported as a range).", 0, 10000000},
    {"stale_lock_time", T::time, "500s", "An mbox dotlock (FILE.lock) older than this is considered stale and removed.", 10, DAY},
};

}  // namespace

std::span<const param_def> params_access() { return rows; }

}  // namespace tern
