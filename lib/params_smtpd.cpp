// params_smtpd.cpp - main.cf parameters of smtpd (SMTP server), sendmail, pickup and the queue tools.
#include "lib/params.hpp"

#include <vector>

namespace tern {
namespace {
[[maybe_unused]] constexpr int64_t DAY = 86400;
using T = param_type;

// Rows: {name, type, default, one-line doc, min, max, time unit}.
const std::vector<param_def> rows = {
    // header parsing (lib/mime header_limits::max_size), read by smtpd's cleanup
    {"header_size_limit", T::size, "102400", "Largest message header parsed, in bytes; fields past it are not examined.", 1024},
    // queue writes (lib/queue_commit)
    {"queue_commit_threads", T::integer, "4", "Threads per smtpd process that fsync finished queue files in parallel (group commit).", 1, 64},
};

}  // namespace

std::span<const param_def> params_smtpd() { return rows; }

}  // namespace tern
