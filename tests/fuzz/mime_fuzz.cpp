// mime_fuzz.cpp - libFuzzer target for lib/mime: the MIME tree with its
// offset invariants and IMAP sections, header text, parameters, decoders,
// charsets and the HTML reducer. Aborts when an invariant breaks.
// Seeds: tests/fuzz/corpus/mime/. Build (not part of `make`):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE \
//     tests/fuzz/mime_fuzz.cpp lib/mime.cpp lib/mime_codec.cpp lib/mime_tree.cpp \
//     lib/utf8.cpp lib/strutil.cpp -o mime_fuzz
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lib/mime.hpp"
#include "lib/utf8.hpp"

using namespace tern;

namespace {

void check(std::string_view msg, const mime_part& root, const mime_part& n, size_t lo, size_t hi, size_t& count) {
    ++count;
    if (n.header_offset < lo || n.header_offset + n.header_size != n.body_offset ||
        n.body_offset + n.body_size > hi || n.header.offset != n.header_offset || n.header.size != n.header_size)
        abort();
    for (const auto& f : n.header.fields)
        if (f.offset < n.header_offset || f.offset + f.raw.size() > n.body_offset ||
            msg.substr(f.offset, f.raw.size()) != f.raw)
            abort();
    if (n.is_multipart()) {
        size_t pos = n.body_offset;
        for (const auto& c : n.children) {
            if (c.header_offset < pos) abort();
            pos = c.body_offset + c.body_size;
            check(msg, root, c, n.body_offset, n.body_offset + n.body_size, count);
        }
    } else if (auto e = n.embedded()) {
        if (e->header_offset != n.body_offset || e->body_offset + e->body_size != n.body_offset + n.body_size) abort();
        check(msg, root, *e, n.body_offset, n.body_offset + n.body_size, count);
    } else if (!n.children.empty()) {
        abort();
    }
    if (!n.part_number.empty() && !(n.is_message_root && n.is_multipart())) {
        if (find_part(root, n.part_number) != &n) abort();
        auto b = imap_section(root, n.part_number);
        if (!b || !(*b == n.body_range())) abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    mime_limits lim;
    lim.max_depth = 12;
    lim.max_parts = 200;
    auto t = parse_mime(in, lim);
    if (t.root.body_offset + t.root.body_size != in.size()) abort();
    size_t count = 0;
    check(in, t.root, t.root, 0, in.size(), count);
    if (count != t.part_count || count > lim.max_parts) abort();
    text_limits tl;
    tl.max_total_bytes = 1 << 16;
    size_t total = 0;
    for_each_text_part(in, t.root, [&](const mime_part&, std::string_view s) {
        if (!utf8_valid(s)) abort();
        total += s.size();
    }, tl);
    if (total > tl.max_total_bytes) abort();

    std::string_view head = in.substr(0, std::min<size_t>(in.size(), 4096));
    if (!utf8_valid(decode_rfc2047(head))) abort();
    auto ct = parse_content_type(head);
    if (ct.type.empty() || ct.subtype.empty()) abort();
    for (const auto& p : ct.params.decoded)
        if (!utf8_valid(p.value)) abort();
    if (!utf8_valid(html_to_text(head))) abort();
    bool err;
    if (qp_decode(head, &err).size() > head.size()) abort();
    if (base64_decode_lenient(head, &err).size() > head.size()) abort();
    // Quoted-printable round trip (bare LF comes back as CRLF).
    std::string expect;
    for (size_t i = 0; i < head.size(); ++i) {
        if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) expect += '\r';
        expect += head[i];
    }
    if (qp_decode(qp_encode(head), &err) != expect || err) abort();
    static const char* const charsets[] = {"utf-8", "iso-2022-jp", "shift_jis", "utf-16", "utf-7", "gb18030", "koi8-r"};
    if (!utf8_valid(charset_to_utf8(head, charsets[size % 7]))) abort();
    return 0;
}
