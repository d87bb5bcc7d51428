// queue_id.hpp - queue IDs: unique on the host, sortable by arrival, short.
// An ID is the arrival time in microseconds since the UNIX epoch written as
// 10 base-36 digits (0-9 A-Z, most significant first), so byte order is time
// order and the range lasts until the year 2085. Every process that creates
// queue files draws from one counter shared through a small mapped file
// (queue_directory/id.seq): new = max(now, last + 1), so two processes never
// get the same ID even within one microsecond. Without access to that file
// (sendmail writing to maildrop/) a per-process counter is used; the queue
// code then relies on O_EXCL creation and no-replace renames instead.
// Used by the queue writer (smtpd, pickup, qmgr bounces) and the queue tools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tern {

inline constexpr size_t queue_id_length = 10;

// True for exactly 10 characters from [0-9A-Z]. Everything that takes an ID
// from outside (postsuper arguments, file names) checks it with this first.
bool valid_queue_id(std::string_view id);
// Fixed-width base 36; values past 36^10 - 1 are clamped (year 2085).
std::string encode_queue_id(uint64_t micros);
std::optional<uint64_t> decode_queue_id(std::string_view id);

// Microseconds since the epoch (CLOCK_REALTIME).
uint64_t now_micros();

// Hands out IDs. Thread-safe; one per queue directory is enough.
class queue_id_source {
public:
    // seq_path "" gives a per-process counter only.
    explicit queue_id_source(const std::string& seq_path);
    ~queue_id_source();
    queue_id_source(const queue_id_source&) = delete;
    queue_id_source& operator=(const queue_id_source&) = delete;

    std::string next();
    uint64_t next_micros();
    // True when the counter is shared with other processes.
    bool shared() const { return _shared != nullptr; }

private:
    uint64_t* _shared = nullptr;  // mapped 8-byte counter
};

}  // namespace tern
