// addr_fuzz.cpp - libFuzzer target for lib/addr: SMTP paths and parameters,
// HELO names, RFC 5322 address lists. Aborts when an invariant breaks.
// The first byte selects path_options flags. Seeds: tests/fuzz/corpus/addr/.
// Build (not part of `make`):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE \
//     tests/fuzz/addr_fuzz.cpp lib/addr.cpp lib/addr_list.cpp lib/mime.cpp \
//     lib/mime_codec.cpp lib/mime_tree.cpp lib/utf8.cpp lib/strutil.cpp -o addr_fuzz
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lib/addr.hpp"
#include "lib/utf8.hpp"

using namespace tern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t flags = data[0];
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

    path_options opt;
    opt.smtputf8 = flags & 1;
    opt.strict_lengths = flags & 2;
    opt.require_brackets = flags & 4;
    opt.allow_unqualified = flags & 8;
    opt.lenient_dots = flags & 16;
    for (auto role : {addr_role::sender, addr_role::recipient}) {
        auto r = role == addr_role::sender ? parse_mail_arg(in, opt) : parse_rcpt_arg(in, opt);
        if (!r) {
            if (r.error().status.empty() || r.error().reason.empty()) abort();
            continue;
        }
        const smtp_path& p = r->path;
        if (p.null) continue;
        if (!opt.smtputf8 && p.utf8) abort();
        if (p.address().size() > in.size()) abort();
        if (p.quoted || p.local.find_first_of("\"\\") == std::string::npos) {
            // What we would send parses back to the same address.
            path_options back = opt;
            back.require_brackets = true;
            back.strict_lengths = false;
            back.lenient_dots = true;
            back.allow_unqualified = true;
            auto again = parse_smtp_path("<" + p.external() + ">", addr_role::sender, back);
            if (!again || again->address() != p.address()) abort();
        }
        for (const auto& prm : r->params)
            if (prm.key.empty()) abort();
    }
    (void)valid_helo_hostname(in);
    (void)is_fqdn_helo(in);
    (void)routing_chars(in);

    address_list_limits lim;
    lim.max_addresses = 50;
    auto l = parse_address_list(in, lim);
    int open = 0;
    size_t boxes = 0;
    for (const auto& a : l.items) {
        if (a.type == mail_address::kind::group_start && ++open != 1) abort();
        if (a.type == mail_address::kind::group_end && --open != 0) abort();
        if (a.type == mail_address::kind::mailbox) ++boxes;
        if (!utf8_valid(a.display)) abort();
        if (a.local.size() > in.size() || a.display_raw.size() > in.size()) abort();
    }
    if (open != 0 || boxes > lim.max_addresses) abort();
    return 0;
}
