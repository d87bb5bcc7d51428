// imap_fuzz.cpp - libFuzzer target for imapd's pure input side: the
// framer (fed in two pieces, small limits), the command parser, and what
// the commands parse from its arguments (sequence sets, FETCH items,
// SEARCH keys, SORT criteria, dates); plus ENVELOPE/BODYSTRUCTURE of the
// input read as a message. Traps when an invariant breaks: views outside
// the command buffer, sections outside the message, unbalanced output.
// Seeds: tests/fuzz/corpus/imap/. Built by tests/fuzz/build.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "imapd/bodystructure.cpp"
#include "imapd/fetch_items.cpp"
#include "imapd/format.cpp"
#include "imapd/parser.cpp"
#include "imapd/search.cpp"
#include "imapd/seqset.cpp"
#include "imapd/thread.cpp"

using namespace tern;
using namespace tern::imap;

namespace {

void check_views(const std::string& raw, const std::vector<arg>& args) {
    for (auto& a : args) {
        if (!a.is_list() && !a.text.empty() &&
            (a.text.data() < raw.data() || a.text.data() + a.text.size() > raw.data() + raw.size()))
            __builtin_trap();
        check_views(raw, a.items);
    }
}

bool balanced(const std::string& s) {
    int depth = 0;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        if (c == '{') {  // a literal: skip its bytes
            size_t close = s.find("}\r\n", i);
            if (close == std::string::npos) return false;
            i = close + 2 + std::stoul(s.substr(i + 1, close - i - 1));
            continue;
        }
        if (c == '"') {
            for (++i; i < s.size() && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            continue;
        }
        if (c == '(') depth++;
        if (c == ')' && --depth < 0) return false;
    }
    return depth == 0;
}

void use(command& c) {
    check_views(*c.raw, c.args);
    if (c.args.empty()) return;
    if (c.args[0].is_atom()) {
        if (auto s = seq_set::parse(c.args[0].text)) {
            auto r = s->resolved(uint32_t(c.args.size() * 7));
            for (auto& x : r.ranges())
                if (x.lo > x.hi || x.lo == 0) __builtin_trap();
            (void)format_set(r.ranges());
        }
        (void)parse_search_date(c.args[0].text);
        (void)parse_date_time(c.args[0].text);
        (void)parse_rfc5322_date(c.args[0].text);
    }
    fetch_request fr;
    std::string err;
    (void)parse_fetch(c.args, 1, fr, err);
    std::vector<std::string> kw{"$Label1", "Work"};
    search_env env;
    env.messages = 5;
    env.max_uid = 9;
    env.keywords = &kw;
    search_program p;
    if (parse_search(c.args, 0, env, p, err)) {
        search_item m;
        m.seq = 2;
        m.uid = 7;
        std::string text = "Subject: x\r\n\r\nbody";
        message_text t([&] { return &text; });
        (void)search_eval(p.root, m, t);
    }
    std::vector<sort_key> keys;
    (void)parse_sort_criteria(c.args[0], keys, err);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    framer_limits lim;
    lim.line_limit = 4096;
    lim.literal_limit = 8192;
    lim.command_limit = 16384;
    framer f(lim);
    size_t cut = size ? data[0] % (size + 1) : 0;
    std::string_view pieces[2] = {std::string_view(in).substr(0, cut), std::string_view(in).substr(cut)};
    for (auto piece : pieces) {
        while (!piece.empty()) {
            size_t used = 0;
            auto r = f.feed(piece, used);
            if (used > piece.size()) __builtin_trap();
            piece.remove_prefix(used);
            if (f.buffered() > lim.command_limit) __builtin_trap();
            if (r == framer::result::complete) {
                command c;
                parse_error e;
                if (parse_command(f.take(), c, e)) use(c);
                else if (e.reason.empty()) __builtin_trap();
            } else if (r == framer::result::line_too_long) {
                piece = {};
            } else if (r == framer::result::literal_too_big) {
                f.reset();
            }
        }
    }
    // the same bytes as a message
    std::string wire = to_crlf(in);
    auto tree = parse_mime(wire);
    std::string bs = body_structure(tree.root, true);
    std::string env = envelope(tree.root.header);
    if (!balanced(bs) || !balanced(env)) __builtin_trap();
    for (const char* spec : {"BODY[]", "BODY[1]", "BODY[1.2]", "BODY[2.MIME]", "BODY[1.HEADER]", "BODY[TEXT]",
                             "BODY[HEADER.FIELDS (Subject From)]"}) {
        command c;
        parse_error e;
        if (!parse_command(std::string("a FETCH 1 ") + spec + "\r\n", c, e)) __builtin_trap();
        fetch_request fr;
        std::string err;
        if (!parse_fetch(c.args, 1, fr, err)) __builtin_trap();
        std::string built;
        std::string_view out;
        if (section_bytes(wire, tree.root, fr.sections[0], built, out) && built.empty() &&
            (out.data() < wire.data() || out.data() + out.size() > wire.data() + wire.size()))
            __builtin_trap();
    }
    return 0;
}
