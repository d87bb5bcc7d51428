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
};

}  // namespace

std::span<const param_def> params_access() { return rows; }

}  // namespace tern
