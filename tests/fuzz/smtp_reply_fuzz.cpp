// smtp_reply_fuzz.cpp - libFuzzer target for what smtp-client reads from and
// writes to remote servers: the SMTP reply parser (fed in two pieces, with
// the EHLO capability parser on each reply), the DATA encoder (no line of
// its output may end the data early, no bare CR or LF), and the 8BITMIME
// downgrade (its output has no 8-bit byte outside untouched parts it chose
// to keep). smtp-client's sources are compiled in here (build.sh links lib/ only).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp-client/data.cpp"
#include "smtp-client/downgrade.cpp"
#include "smtp-client/reply.cpp"

using namespace tern::smtp_client;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    size_t cut = size ? data[0] % (size + 1) : 0;

    // replies: consumed reply by reply until the bytes run out or an error
    reply_parser p(256, 16);
    bool failed = false;
    for (std::string_view piece : {in.substr(0, cut), in.substr(cut)}) {
        while (!failed && !piece.empty()) {
            size_t used = 0;
            auto st = p.feed(piece, used);
            if (used > piece.size()) __builtin_trap();
            piece.remove_prefix(used);
            if (st == reply_parser::status::error) {
                failed = true;
            } else if (st == reply_parser::status::done) {
                smtp_reply r = p.take();
                if (r.code < 200 || r.code > 599 || r.lines.empty() || r.lines.size() > 16) __builtin_trap();
                if (!r.enhanced.empty() && r.enhanced[0] != static_cast<char>('0' + r.code / 100)) __builtin_trap();
                (void)parse_ehlo(r);
                (void)r.text();
                (void)r.dsn();
            } else if (!piece.empty()) {
                __builtin_trap();  // need_more must have taken everything
            }
        }
    }

    // DATA encoding, in two pieces
    for (size_t limit : {size_t(0), size_t(998), size_t(40)}) {
        data_encoder e(limit);
        std::string out;
        e.feed(in.substr(0, cut), out);
        e.feed(in.substr(cut), out);
        e.finish(out);
        if (out.size() < 3 || out.compare(out.size() - 3, 3, ".\r\n") != 0) __builtin_trap();
        std::string head = "\r\n" + out.substr(0, out.size() - 3);
        if (head.find("\r\n.\r\n") != std::string::npos) __builtin_trap();
        for (size_t i = 0; i < out.size(); ++i) {
            if (out[i] == '\r' && (i + 1 >= out.size() || out[i + 1] != '\n')) __builtin_trap();
            if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) __builtin_trap();
        }
    }

    // the downgrade never crashes and never grows without bound
    std::string d = downgrade_8bit(in);
    if (d.size() > 4 * size + 4096) __builtin_trap();
    return 0;
}
