// attr_fuzz.cpp - libFuzzer target: the attribute-list decoder (internal and
// policy modes, fed whole and in two pieces), checked against re-encoding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/attr.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    for (bool escape : {true, false}) {
        tern::attr_limits lim;
        lim.escape = escape;
        lim.max_line = 512;
        lim.max_count = 64;
        lim.max_total = 4096;
        tern::attr_parser p(lim);
        size_t cut = size ? data[0] % (size + 1) : 0;
        size_t used1 = 0, used2 = 0;
        auto st = p.feed(in.substr(0, cut), used1);
        if (st == tern::attr_parser::status::need_more) st = p.feed(in.substr(cut), used2);
        if (st == tern::attr_parser::status::done) {
            auto list = p.take();
            // what we decoded must encode and decode to the same thing
            if (auto enc = tern::attr_encode(list, escape)) {
                tern::attr_parser q(tern::attr_limits{1 << 20, 1 << 20, 1 << 24, escape});
                size_t u = 0;
                if (q.feed(*enc, u) != tern::attr_parser::status::done || q.take().items != list.items) __builtin_trap();
            }
        }
    }
    return 0;
}
