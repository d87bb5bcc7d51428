// table_source_fuzz.cpp - libFuzzer target: postmap-format sources (logical
// lines, key folding), split-independence, and each line's key fed to the
// network parsers (net_list, cidr) and inline: tables that main.cf uses.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/cidr.hpp"
#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/net_list.hpp"

namespace {

std::string run(std::string_view text, size_t cut, std::vector<std::string>* keys) {
    std::vector<tern::config_error> errors;
    std::string out;
    tern::map_limits limits;
    limits.line_length = 4096;
    tern::table_source_parser p("src", limits, true,
                                [&](int line, const std::string& k, const std::string& v) {
                                    out += std::to_string(line) + " " + k + " " + v + "\n";
                                    if (keys) keys->push_back(k);
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
    static bool quiet = [] {
        tern::log::init("fuzz", tern::log::sink::stderr_stream, false);
        return true;
    }();
    (void)quiet;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> keys;
    std::string whole = run(text, text.size(), &keys);
    if (run(text, size / 2, nullptr) != whole) __builtin_trap();
    for (const auto& k : keys) {
        std::string err;
        if (auto n = tern::parse_ip_net(k, err)) {
            std::string err2;
            auto again = tern::parse_ip_net(n->str(), err2);
            if (!again || again->str() != n->str() || !n->contains(n->base)) __builtin_trap();
        }
    }
    if (size <= 512) {
        std::string list(text);
        std::string err;
        // only types that need no files: no table: element may name one
        if (list.find(':') == std::string::npos || list.rfind("inline:", 0) == 0) {
            if (auto l = tern::net_list::parse(list, err)) {
                (void)l->match("192.0.2.1");
                (void)l->match("2001:db8::1");
            }
        }
        std::vector<tern::config_error> errors;
        if (auto t = tern::open_table("inline:" + list, tern::map_options(), errors)) (void)t->lookup("a");
    }
    return 0;
}
