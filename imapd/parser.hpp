// parser.hpp - IMAP command input: the framer that cuts a command out of the
// byte stream (lines plus {n} / {n+} literals, RFC 3501 and RFC 7888) and the
// parser that turns one framed command into a tag, a name and a tree of
// arguments (atoms, quoted strings, literals, parenthesised lists). Both are
// pure functions over bytes: no I/O, no allocation beyond what the limits
// allow, so they can be fuzzed (tests/fuzz/imap_fuzz.cpp) and unit-tested
// (tests/unit/imap_parser_test.cpp). Called by imapd/session.cpp.
// SECURITY: all input is untrusted. A literal's announced size is checked
// against the limit before a byte of it is stored; line length, total
// command size and list nesting are bounded; nothing here throws on bad input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::imap {

struct framer_limits {
    size_t line_limit = 65536;               // one line between literals, with its CRLF
    uint64_t literal_limit = 64ull << 20;    // one literal
    uint64_t command_limit = 64ull << 20;    // lines plus literals of one command
};

// Cuts complete commands out of the input. feed() consumes as much as it can
// and says why it stopped.
class framer {
public:
    enum class result {
        need_more,          // everything was consumed; the command is not complete
        complete,           // take() gives the command (the rest of the input is the next one)
        continuation,       // a synchronising literal was announced: send "+ ..." and feed on
        line_too_long,      // a line passed line_limit (the session ends: we lost sync)
        literal_too_big,    // the announced literal passes the limits; nothing of it was stored
    };
    explicit framer(framer_limits lim = {}) : _lim(lim) {}
    // Consumes bytes of in; `used` tells how many.
    result feed(std::string_view in, size_t& used);
    // The complete command: its lines (with CRLF) and literal bytes, as sent.
    std::string take();
    // Forget the command being framed (after literal_too_big on a synchronising literal).
    void reset();
    bool empty() const { return _buf.empty() && _left == 0; }
    // The tag of the command being framed ("" until the first space arrived).
    std::string tag() const;
    // The literal just announced (after continuation or literal_too_big).
    uint64_t literal_size() const { return _announced; }
    bool literal_sync() const { return _announced_sync; }
    // Bytes held for the command being framed.
    size_t buffered() const { return _buf.size(); }

private:
    framer_limits _lim;
    std::string _buf;
    size_t _line_start = 0;  // where the current line begins in _buf
    uint64_t _left = 0;      // literal bytes still to come
    uint64_t _announced = 0;
    bool _announced_sync = false;
};

// One argument of a command.
struct arg {
    enum class kind : uint8_t { atom, quoted, literal, list };
    kind type = kind::atom;
    std::string_view text;   // atom / string value (quoted strings unescaped); empty for lists
    std::vector<arg> items;  // list members

    bool is_atom() const { return type == kind::atom; }
    bool is_list() const { return type == kind::list; }
    bool is_string() const { return type == kind::quoted || type == kind::literal; }
    // astring: an atom or a string
    bool is_astring() const { return type != kind::list; }
    // The atom NIL (case-insensitive).
    bool is_nil() const;
    // Atom equal to word (case-insensitive).
    bool is(std::string_view word) const;
};

struct command {
    std::unique_ptr<std::string> raw;  // the bytes; every text view points into it
    std::string tag;
    std::string name;   // upper case ("FETCH" for "UID FETCH")
    bool uid = false;   // prefixed by UID
    std::vector<arg> args;
};

struct parse_error {
    std::string tag;     // "" when even the tag was unusable (reply with "*")
    std::string reason;  // for "tag BAD reason"
};

struct parser_limits {
    size_t max_depth = 32;     // nested lists
    size_t max_args = 100000;  // arguments over the whole command
};

// Parses one framed command (the output of framer::take()). On success cmd
// holds the arguments (views into cmd.raw); otherwise err says why.
bool parse_command(std::string bytes, command& cmd, parse_error& err, const parser_limits& lim = {});

// RFC 3501 atom characters (ATOM-CHAR): no specials, controls, space or 8-bit.
bool is_atom_char(unsigned char c);
// tag = 1*<any ASTRING-CHAR except "+">
bool valid_tag(std::string_view tag);

}  // namespace tern::imap
