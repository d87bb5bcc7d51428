// queue_list.hpp - queue listings: Postfix's mailq layout (postqueue -p,
// mailq, sendmail -bp) and one JSON object per message (postqueue -j).
// The walk reads each file's envelope and result log with a few small
// reads (never the body), so 100,000 messages list in about a second.
// Called by postqueue and sendmail -bp. Output texts come from queue files
// that smtpd wrote from client input: they are made printable here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "lib/queue_file.hpp"

namespace tern {

class queue_dir;

// The queues in listing order (Postfix's showq order).
inline constexpr std::string_view listing_queues[] = {"maildrop", "active", "incoming", "deferred", "hold"};

// Call fn for each message in listing order (sorted by ID within a queue).
// fn returns false to stop. Files that vanish meanwhile are skipped
// silently; unreadable ones are passed to warn and skipped.
using queue_walk_fn = std::function<bool(std::string_view queue, const std::string& id, const queue_file_info& info)>;
void queue_walk(const queue_dir& q, const queue_walk_fn& fn, const std::function<void(const std::string&)>& warn);

// mailq pieces. The heading line; one message's block (sender line, then
// reasons and recipients still to deliver); the summary after the last.
std::string mailq_heading();
std::string mailq_entry(std::string_view queue, const std::string& id, const queue_file_info& info);
std::string mailq_summary(uint64_t messages, uint64_t total_size);
inline constexpr std::string_view mailq_empty = "Mail queue is empty\n";

// One JSON object and a newline (docs/queue.md lists the members).
std::string queue_json_entry(std::string_view queue, const std::string& id, const queue_file_info& info);

// JSON string literal with quotes; control characters and invalid UTF-8
// bytes are escaped as \uXXXX.
std::string json_quote(std::string_view s);
// "SUCCESS,FAILURE", "NEVER" or "" (no NOTIFY given).
std::string dsn_notify_text(uint8_t notify);

}  // namespace tern
