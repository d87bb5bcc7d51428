// smtp_proto_fuzz.cpp - libFuzzer target: smtpd's wire parsers (lib/smtp_proto):
// the command-line splitter, the DATA decoder in both bare-newline modes
// (fed whole and in two pieces, which must agree) and the BDAT CRLF converter.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp_proto.hpp"

using namespace tern::smtp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);

    size_t end = find_line_end(in);
    command c = parse_command(end == std::string_view::npos ? in : in.substr(0, end));
    // the argument is a view into the line
    if (!c.arg.empty() && (c.arg.data() < in.data() || c.arg.data() + c.arg.size() > in.data() + in.size()))
        __builtin_trap();

    for (bool forbid : {true, false}) {
        data_decoder whole(forbid);
        std::string out1;
        auto r1 = whole.feed(in, &out1);
        if (r1.consumed > size || whole.bytes() != out1.size()) __builtin_trap();
        size_t cut = size ? data[0] % (size + 1) : 0;
        data_decoder split(forbid);
        std::string out2;
        auto r2 = split.feed(in.substr(0, cut), &out2);
        size_t consumed = r2.consumed;
        if (r2.st == data_decoder::status::need_more) {
            auto r3 = split.feed(in.substr(cut), &out2);
            r2.st = r3.st;
            consumed += r3.consumed;
        }
        if (r1.st != r2.st || out1 != out2) __builtin_trap();
        if (r1.st == data_decoder::status::done || r1.st == data_decoder::status::need_more)
            if (consumed != r1.consumed) __builtin_trap();
        // a finished decoder takes nothing more
        if (r1.st == data_decoder::status::done && whole.feed(in, &out1).consumed != 0) __builtin_trap();
    }

    crlf_converter a, b;
    std::string o1, o2;
    a.feed(in, &o1);
    a.finish(&o1);
    size_t cut = size ? data[size - 1] % (size + 1) : 0;
    b.feed(in.substr(0, cut), &o2);
    b.feed(in.substr(cut), &o2);
    b.finish(&o2);
    if (o1 != o2 || a.bytes() != o1.size() || a.lines() != b.lines()) __builtin_trap();
    return 0;
}
