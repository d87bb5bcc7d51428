// dnsbl_fuzz.cpp - libFuzzer target: the DNSBL site syntax (lib/dnsbl) and
// the greylisting key normaliser (lib/greylist). Properties: a parsed site
// parses again from its own text to the same domain, weight and filter
// decisions; normalised addresses are bounded and hold no blanks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/socket.h>

#include "lib/dnsbl.hpp"
#include "lib/greylist.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    std::string err;
    if (auto s = tern::dnsbl::parse_site(in, err)) {
        auto again = tern::dnsbl::parse_site(s->text, err);
        if (!again || again->domain != s->domain || again->weight != s->weight) __builtin_trap();
        for (int last = 0; last < 256; last += 17) {
            tern::ip_addr a;
            a.family = AF_INET;
            a.bytes[0] = 127;
            a.bytes[3] = static_cast<uint8_t>(last);
            if (tern::dnsbl::reply_matches(*s, a) != tern::dnsbl::reply_matches(*again, a)) __builtin_trap();
        }
        if (s->domain.empty() || s->domain.size() > 253) __builtin_trap();
    }
    std::string n = tern::greylist::normalize_address(in);
    if (n.size() > 320 || n.find(' ') != std::string::npos || n.empty()) __builtin_trap();
    return 0;
}
