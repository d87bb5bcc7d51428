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
