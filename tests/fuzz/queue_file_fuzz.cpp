// queue_file_fuzz.cpp - libFuzzer target: the queue file parser
// (parse_queue_file) and the listings built from what it accepts.
// SECURITY: queue files can be damaged or planted; the parser must bound
// every read and allocation. Built by `make fuzz` (tests/fuzz/build.sh),
// seeds in tests/fuzz/corpus/queue_file (files written by queue_fixture).
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
