// pop3_fuzz.cpp - libFuzzer target: POP3 command parsing and the wire
// encoder; checks that the encoding never yields a lone "." line before the end.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pop3d/parse.cpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    std::string why;
    if (auto c = tern::pop3::parse_command(in, why))
        for (auto& a : c->args) (void)tern::pop3::parse_msgno(a, 100);
    tern::pop3::wire_encoder e(size % 3 == 0 ? -1 : static_cast<long>(size % 5));
    std::string out;
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (e.feed(in.substr(0, cut), out)) e.feed(in.substr(cut), out);
    e.finish(out);
    // the terminator appears exactly once, at the end
    if (out.size() < 3 || out.compare(out.size() - 3, 3, ".\r\n") != 0) __builtin_trap();
    if (out.find("\r\n.\r\n") != out.size() - 5 && out != ".\r\n") __builtin_trap();
    return 0;
}
