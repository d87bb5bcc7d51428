// dns_answer_fuzz.cpp - libFuzzer target: parse_dns_answer (lib/dns_parse.cpp)
// on arbitrary packets. The first byte picks the query type, the rest is the
// packet. Checks the parser's promises: an error is always "temporary" with a
// reason, an accepted MX answer is sorted, names fit in 255 wire bytes.
#include <cstddef>
#include <cstdint>

#include "lib/dns.hpp"

using tern::dns::rr_type;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    static const rr_type types[] = {rr_type::a,   rr_type::ns,  rr_type::cname, rr_type::ptr, rr_type::mx,
                                    rr_type::txt, rr_type::aaaa, rr_type::tlsa, rr_type::spf};
    rr_type t = types[data[0] % (sizeof types / sizeof types[0])];
    tern::dns::result r;
    bool ok = tern::dns::parse_dns_answer(data + 1, size - 1, t, r);
    if (!ok && (r.st != tern::dns::status::temporary || r.error.empty())) __builtin_trap();
    if (ok) {
        for (size_t i = 1; i < r.mx.size(); ++i)
            if (r.mx[i - 1].preference > r.mx[i].preference) __builtin_trap();
        if (r.null_mx && !r.mx.empty()) __builtin_trap();
        // escaped text can be up to 4 characters per wire byte
        for (const auto& n : r.names)
            if (n.size() > 4 * 255) __builtin_trap();
        if (r.st != tern::dns::status::ok && (!r.addresses.empty() || !r.mx.empty() || !r.txt.empty()))
            __builtin_trap();
    }
    return 0;
}
