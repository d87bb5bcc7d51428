// aliases_fuzz.cpp - libFuzzer target: aliases(5) files. Checks that the
// result does not depend on how the bytes are split, and that every entry's
// normalised value reads back as the same targets (what local delivery
// relies on).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/aliases.hpp"

namespace {

std::string run(std::string_view text, size_t cut) {
    std::vector<tern::config_error> errors;
    std::string out;
    tern::map_limits limits;
    limits.line_length = 4096;
    tern::alias_parser p("aliases", limits,
                         [&](tern::alias_entry&& e) {
                             std::string err;
                             auto back = tern::parse_alias_values(e.value, &err);
                             if (!err.empty() || back != e.targets) __builtin_trap();
                             if (tern::format_alias_values(back) != e.value) __builtin_trap();
                             out += std::to_string(e.line) + " " + e.key + ": " + e.value + "\n";
                         },
                         errors);
    p.feed(text.substr(0, cut));
    p.feed(text.substr(cut));
    p.finish();
    for (const auto& e : errors) out += e.str() + "\n";
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string whole = run(text, text.size());
    if (run(text, size / 2) != whole) __builtin_trap();
    if (size > 0 && run(text, data[0] % (size + 1)) != whole) __builtin_trap();
    // the value parser alone, on raw input
    std::string err;
    auto targets = tern::parse_alias_values(text, &err);
    if (err.empty() && tern::parse_alias_values(tern::format_alias_values(targets)) != targets) __builtin_trap();
    return 0;
}
