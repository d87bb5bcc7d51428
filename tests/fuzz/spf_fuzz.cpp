// spf_fuzz.cpp - libFuzzer target: the SPF record parser and the macro
// expander (lib/spf). The input is tried as a record ("v=spf1 " added when
// missing), as a macro-string in both uses and as a hostile sender in the
// Received-SPF header; the checks are consistency properties: a parsed
// record's terms parse again to the same terms, syntax check and expansion
// agree, expansions respect their cap, the header is one line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/spf.hpp"

using namespace tern::spf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);

    std::string text = is_spf_record(in) ? in : "v=spf1 " + in;
    std::string err;
    if (auto rec = parse_record(text, err)) {
        std::string again = "v=spf1";
        for (const auto& m : rec->mechanisms) again += " " + m.text;
        if (rec->redirect) again += " redirect=" + *rec->redirect;
        if (rec->exp) again += " exp=" + *rec->exp;
        for (const auto& u : rec->unknown) again += " " + u.name + "=" + u.value;
        auto rec2 = parse_record(again, err);
        if (!rec2 || rec2->mechanisms.size() != rec->mechanisms.size()) __builtin_trap();
        for (size_t i = 0; i < rec->mechanisms.size(); ++i) {
            const auto& a = rec->mechanisms[i];
            const auto& b = rec2->mechanisms[i];
            if (a.kind != b.kind || a.qualifier != b.qualifier || a.domain_spec != b.domain_spec || a.cidr4 != b.cidr4 ||
                a.cidr6 != b.cidr6 || !(a.net == b.net))
                __builtin_trap();
            if (!a.domain_spec.empty() && !check_domain_spec(a.domain_spec, err)) __builtin_trap();
        }
    }

    macro_input mi;
    mi.sender = "strong-bad@email.example.com";
    mi.domain = "email.example.com";
    mi.ip = *tern::parse_ip_addr("2001:db8::cb01");
    mi.helo = in.substr(0, 64);
    mi.timestamp = 1;
    for (auto use : {macro_use::domain, macro_use::explanation}) {
        bool ok = check_macro_string(in, use, err);
        auto e = expand(in, mi, use, err, 4096);
        if (e && !ok) __builtin_trap();
        if (e && e->size() > 4096) __builtin_trap();
        if (!ok && e) __builtin_trap();
    }
    std::string q = query_name(in);
    if (q.size() > 253 && q.find('.') != std::string::npos) __builtin_trap();

    outcome o;
    o.res = result::fail;
    o.sender = in;
    o.problem = in;
    o.mechanism = in;
    request req;
    req.ip = "192.0.2.1";
    req.sender = in;
    req.helo = in;
    std::string h = received_spf_header(o, req);
    if (h.find_first_of("\r\n") != std::string::npos) __builtin_trap();
    return 0;
}
