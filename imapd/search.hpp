// search.hpp - SEARCH keys (RFC 3501 6.4.4 plus CONDSTORE's MODSEQ): the
// parser from command arguments to a key tree, and the evaluator. Keys
// that only need the folder index (flags, sizes, dates, UIDs) are decided
// without reading the message; header and text keys read it once, parse
// it lazily and match case-insensitively on decoded UTF-8 (RFC 2047 words,
// transfer encodings and charsets undone). Pure; used by cmd_search.cpp
// (SEARCH, SORT, THREAD) and tested in tests/unit/imap_search_test.cpp.
// SECURITY: keys come from clients; nesting and key count are bounded and
// matching is linear in the message size.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/parser.hpp"
#include "imapd/seqset.hpp"
#include "lib/mime.hpp"

namespace tern::imap {

struct search_key {
    enum class kind : uint8_t {
        all, none, and_, or_, not_, seq, uid, flags_set, flags_clear, keyword, unkeyword,
        recent, old, new_, before, on, since, sent_before, sent_on, sent_since, larger, smaller,
        header, body, text, modseq,
    };
    kind type = kind::all;
    uint32_t bits = 0;     // flags / keyword bits
    bool known = true;     // keyword: false when the folder has no such keyword
    int64_t num = 0;       // dates (days since the epoch), sizes, modseq
    std::string field;     // header: field name
    std::string value;     // header/body/text: folded needle (UTF-8)
    seq_set set;           // resolved
    std::vector<search_key> kids;
};

// What the parser needs from the selected folder.
struct search_env {
    uint32_t messages = 0;  // for "*" in sequence sets
    uint32_t max_uid = 0;   // for "*" in UID sets
    const std::vector<std::string>* keywords = nullptr;  // the folder's keyword table
    std::string charset = "UTF-8";  // CHARSET of the command (strings converted from it)
};

struct search_program {
    search_key root;   // an AND of the top-level keys
    bool uses_modseq = false;
};

// Parses keys args[pos..] (all of them, ANDed). false with err (for BAD).
bool parse_search(const std::vector<arg>& args, size_t pos, const search_env& env, search_program& out,
                  std::string& err);
// Charsets SEARCH accepts for CHARSET: US-ASCII, UTF-8 and anything lib/mime converts.
bool search_charset_ok(std::string_view name);

// One message as the evaluator sees it.
struct search_item {
    uint32_t seq = 0, uid = 0;
    uint32_t flags = 0, keywords = 0;
    bool recent = false;
    uint64_t size = 0;    // RFC822.SIZE
    uint64_t modseq = 0;
    int64_t internal_date = 0;
};

// The message's content, loaded and parsed on first use.
class message_text {
public:
    // loader returns the message in CRLF form, or nullptr when unreadable.
    explicit message_text(std::function<const std::string*()> loader) : _loader(std::move(loader)) {}
    const std::string* message();
    const header_section* header();
    const mime_tree* tree();
    // Folded decoded text of every text part, joined by newlines.
    const std::string& body_text();
    // Folded decoded header (every field "name: value" per line).
    const std::string& header_text();
    // Sent date (Date: field): UTC seconds and the day as written.
    std::optional<int64_t> sent_date(int64_t* day = nullptr);

private:
    std::function<const std::string*()> _loader;
    const std::string* _msg = nullptr;
    bool _loaded = false;
    std::optional<header_section> _header;
    std::optional<mime_tree> _tree;
    std::optional<std::string> _body, _htext;
};

// Decides what the index alone can decide: 1 yes, 0 no, -1 needs the message.
int search_eval_index(const search_key& k, const search_item& m);
// Full evaluation (loads the message when needed).
bool search_eval(const search_key& k, const search_item& m, message_text& text);
// True when the key tree needs the message at all.
bool search_needs_message(const search_key& k);

// Case folding for text search: ASCII and the common Latin, Greek and
// Cyrillic letters to lower case; other code points unchanged.
std::string search_fold(std::string_view utf8);

}  // namespace tern::imap
