// queue_file_fuzz.cpp - libFuzzer target: the queue file parser
// (parse_queue_file) and the listings built from what it accepts.
// SECURITY: queue files can be damaged or planted; the parser must bound
// every read and allocation. Build and run (clang, from the source tree):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
//     -DTERN_CONFIG_DIR='"/etc/tern"' -DTERN_QUEUE_DIR='"/var/spool/tern"' -DTERN_DAEMON_DIR='""' \
//     -DTERN_COMMAND_DIR='""' -DTERN_DATA_DIR='""' tests/fuzz/queue_file_fuzz.cpp \
//     lib/queue_file.cpp lib/queue_list.cpp lib/queue_dir.cpp lib/queue_id.cpp lib/fd.cpp \
//     lib/config.cpp lib/params*.cpp lib/strutil.cpp -o queue_file_fuzz
//   ./queue_file_fuzz tests/fuzz/corpus/queue_file
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/queue_file.hpp"
#include "lib/queue_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    tern::queue_file_info info;
    std::string err;
    if (!tern::parse_queue_file(in, info, err)) {
        if (err.empty()) std::abort();  // every refusal says why
        return 0;
    }
    // what was accepted is consistent with the bytes
    if (info.message_offset + info.message_length > size || info.log_end > size ||
        info.log_offset > info.log_end || info.env.recipients.empty() ||
        info.env.recipients.size() > tern::queue_limits::max_recipients || info.header_length > info.message_length)
        std::abort();
    tern::mailq_entry("deferred", "0123456789", info);
    tern::queue_json_entry("active", "0123456789", info);
    tern::queue_file_info envelope_only;
    if (!tern::parse_queue_file(in, envelope_only, err, {.log = false})) std::abort();
    return 0;
}
