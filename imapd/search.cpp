// search.cpp - see search.hpp.
#include "imapd/search.hpp"

#include "imapd/format.hpp"
#include "lib/mailbox.hpp"
#include "lib/strutil.hpp"
#include "lib/utf8.hpp"

namespace tern::imap {

// ---------------------------------------------------------------- folding

namespace {
uint32_t fold_cp(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1u) ? c + 1 : c;
    if (c == 0x178) return 0xFF;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c == 0x3C2) return 0x3C3;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}
}  // namespace

std::string search_fold(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        unsigned char b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            out += char((b >= 'A' && b <= 'Z') ? b + 32 : b);
            ++i;
            continue;
        }
        size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += s[i++];
            continue;
        }
        uint32_t cp = b & (0xFF >> (n + 1));
        for (size_t k = 1; k < n; k++) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        utf8_append(out, fold_cp(cp));
        i += n;
    }
    return out;
}

// ---------------------------------------------------------------- parsing

bool search_charset_ok(std::string_view name) {
    return iequals(name, "US-ASCII") || iequals(name, "UTF-8") || charset_known(name);
}

namespace {

using K = search_key::kind;

struct key_parser {
    const search_env& env;
    std::string& err;
    size_t count = 0;
    bool uses_modseq = false;

    bool fail(std::string why) {
        err = std::move(why);
        return false;
    }

    bool string_arg(const std::vector<arg>& a, size_t& pos, std::string& out, const char* what) {
        if (pos >= a.size() || !a[pos].is_astring()) return fail(std::string(what) + " needs a string");
        std::string_view v = a[pos++].text;
        if (iequals(env.charset, "UTF-8") || iequals(env.charset, "US-ASCII"))
            out = utf8_or_cp1252(v);
        else
            out = charset_to_utf8(v, to_lower(env.charset));
        return true;
    }

    bool number_arg(const std::vector<arg>& a, size_t& pos, int64_t& out, const char* what) {
        if (pos >= a.size() || !a[pos].is_atom()) return fail(std::string(what) + " needs a number");
        auto n = parse_u64(a[pos++].text);
        if (!n || *n > uint64_t(INT64_MAX)) return fail(std::string(what) + " needs a number");
        out = int64_t(*n);
        return true;
    }

    bool date_arg(const std::vector<arg>& a, size_t& pos, int64_t& out, const char* what) {
        if (pos >= a.size() || !a[pos].is_astring()) return fail(std::string(what) + " needs a date");
        auto d = parse_search_date(a[pos++].text);
        if (!d) return fail(std::string(what) + ": invalid date (use d-Mon-yyyy)");
        out = *d;
        return true;
    }

    bool key(const std::vector<arg>& a, size_t& pos, search_key& out, size_t depth) {
        if (depth > 64) return fail("search keys nested too deeply");
        if (++count > 10000) return fail("too many search keys");
        if (pos >= a.size()) return fail("missing search key");
        const arg& x = a[pos++];
        if (x.is_list()) {
            if (x.items.empty()) return fail("empty search key list");
            out.type = K::and_;
            size_t p = 0;
            while (p < x.items.size()) {
                search_key k;
                if (!key(x.items, p, k, depth + 1)) return false;
                out.kids.push_back(std::move(k));
            }
            return true;
        }
        if (!x.is_atom()) return fail("search key expected, got a string");
        std::string name = to_upper(x.text);
        char c0 = name[0];
        if ((c0 >= '0' && c0 <= '9') || c0 == '*') {
            auto set = seq_set::parse(x.text);
            if (!set) return fail("invalid sequence set " + printable(x.text, 40));
            out.type = K::seq;
            out.set = set->resolved(env.messages);
            return true;
        }
        struct flag_key {
            const char* name;
            K kind;
            uint32_t bits;
        };
        static const flag_key flag_keys[] = {
            {"ANSWERED", K::flags_set, mailbox::flag::answered},   {"DELETED", K::flags_set, mailbox::flag::deleted},
            {"DRAFT", K::flags_set, mailbox::flag::draft},         {"FLAGGED", K::flags_set, mailbox::flag::flagged},
            {"SEEN", K::flags_set, mailbox::flag::seen},           {"UNANSWERED", K::flags_clear, mailbox::flag::answered},
            {"UNDELETED", K::flags_clear, mailbox::flag::deleted}, {"UNDRAFT", K::flags_clear, mailbox::flag::draft},
            {"UNFLAGGED", K::flags_clear, mailbox::flag::flagged}, {"UNSEEN", K::flags_clear, mailbox::flag::seen},
        };
        for (auto& f : flag_keys)
            if (name == f.name) {
                out.type = f.kind;
                out.bits = f.bits;
                return true;
            }
        if (name == "ALL") return out.type = K::all, true;
        if (name == "NEW") return out.type = K::new_, true;
        if (name == "OLD") return out.type = K::old, true;
        if (name == "RECENT") return out.type = K::recent, true;
        if (name == "BCC" || name == "CC" || name == "FROM" || name == "SUBJECT" || name == "TO") {
            out.type = K::header;
            out.field = name;
            std::string v;
            if (!string_arg(a, pos, v, name.c_str())) return false;
            out.value = search_fold(v);
            return true;
        }
        if (name == "HEADER") {
            out.type = K::header;
            if (!string_arg(a, pos, out.field, "HEADER")) return false;
            std::string v;
            if (!string_arg(a, pos, v, "HEADER")) return false;
            out.value = search_fold(v);
            return true;
        }
        if (name == "BODY" || name == "TEXT") {
            out.type = name == "BODY" ? K::body : K::text;
            std::string v;
            if (!string_arg(a, pos, v, name.c_str())) return false;
            out.value = search_fold(v);
            return true;
        }
        struct date_key {
            const char* name;
            K kind;
        };
        static const date_key date_keys[] = {{"BEFORE", K::before},          {"ON", K::on},
                                             {"SINCE", K::since},            {"SENTBEFORE", K::sent_before},
                                             {"SENTON", K::sent_on},         {"SENTSINCE", K::sent_since}};
        for (auto& d : date_keys)
            if (name == d.name) {
                out.type = d.kind;
                return date_arg(a, pos, out.num, d.name);
            }
        if (name == "KEYWORD" || name == "UNKEYWORD") {
            out.type = name == "KEYWORD" ? K::keyword : K::unkeyword;
            if (pos >= a.size() || !a[pos].is_atom()) return fail(name + " needs a flag");
            std::string_view kw = a[pos++].text;
            if (auto sys = mailbox::parse_system_flag(kw)) {
                // KEYWORD \Seen: tolerated as the system flag
                out.type = out.type == K::keyword ? K::flags_set : K::flags_clear;
                out.bits = *sys;
                return true;
            }
            out.known = false;
            if (env.keywords)
                for (size_t i = 0; i < env.keywords->size() && i < 32; i++)
                    if (iequals((*env.keywords)[i], kw)) {
                        out.bits = 1u << i;
                        out.known = true;
                    }
            return true;
        }
        if (name == "LARGER" || name == "SMALLER") {
            out.type = name == "LARGER" ? K::larger : K::smaller;
            return number_arg(a, pos, out.num, name.c_str());
        }
        if (name == "NOT") {
            out.type = K::not_;
            out.kids.emplace_back();
            return key(a, pos, out.kids.back(), depth + 1);
        }
        if (name == "OR") {
            out.type = K::or_;
            out.kids.resize(2);
            return key(a, pos, out.kids[0], depth + 1) && key(a, pos, out.kids[1], depth + 1);
        }
        if (name == "UID") {
            if (pos >= a.size() || !a[pos].is_atom()) return fail("UID needs a set");
            auto set = seq_set::parse(a[pos].text);
            if (!set) return fail("invalid UID set " + printable(a[pos].text, 40));
            ++pos;
            out.type = K::uid;
            out.set = set->resolved(env.max_uid);
            return true;
        }
        if (name == "MODSEQ") {
            out.type = K::modseq;
            uses_modseq = true;
            // optional entry-name (a string) and entry-type-req
            if (pos < a.size() && a[pos].is_string()) {
                pos++;
                if (pos >= a.size() || !a[pos].is_atom() ||
                    !(a[pos].is("priv") || a[pos].is("shared") || a[pos].is("all")))
                    return fail("MODSEQ: bad entry type");
                pos++;
            }
            return number_arg(a, pos, out.num, "MODSEQ");
        }
        return fail("unknown search key " + printable(x.text, 40));
    }
};

}  // namespace

bool parse_search(const std::vector<arg>& args, size_t pos, const search_env& env, search_program& out,
                  std::string& err) {
    key_parser p{env, err};
    out = search_program{};
    out.root.type = K::and_;
    if (pos >= args.size()) {
        err = "missing search key";
        return false;
    }
    while (pos < args.size()) {
        search_key k;
        if (!p.key(args, pos, k, 0)) return false;
        out.root.kids.push_back(std::move(k));
    }
    out.uses_modseq = p.uses_modseq;
    return true;
}

// ---------------------------------------------------------------- message text

const std::string* message_text::message() {
    if (!_loaded) {
        _loaded = true;
        _msg = _loader ? _loader() : nullptr;
    }
    return _msg;
}

const header_section* message_text::header() {
    if (!_header) {
        const std::string* m = message();
        if (!m) return nullptr;
        if (_tree)
            _header = _tree->root.header;
        else
            _header = parse_header(*m);
    }
    return &*_header;
}

const mime_tree* message_text::tree() {
    if (!_tree) {
        const std::string* m = message();
        if (!m) return nullptr;
        _tree = parse_mime(*m);
    }
    return &*_tree;
}

const std::string& message_text::body_text() {
    if (!_body) {
        _body.emplace();
        const mime_tree* t = tree();
        if (t)
            for_each_text_part(*message(), t->root, [&](const mime_part&, std::string_view text) {
                *_body += search_fold(text);
                *_body += '\n';
            });
    }
    return *_body;
}

const std::string& message_text::header_text() {
    if (!_htext) {
        _htext.emplace();
        if (const header_section* h = header())
            for (auto& f : h->fields) {
                *_htext += search_fold(f.name);
                *_htext += ": ";
                *_htext += search_fold(decode_header_text(f.raw_value()));
                *_htext += '\n';
            }
    }
    return *_htext;
}

std::optional<int64_t> message_text::sent_date(int64_t* day) {
    const header_section* h = header();
    if (!h) return std::nullopt;
    auto v = h->get("Date");
    if (!v) return std::nullopt;
    return parse_rfc5322_date(*v, day);
}

// ---------------------------------------------------------------- evaluation

bool search_needs_message(const search_key& k) {
    switch (k.type) {
    case K::sent_before: case K::sent_on: case K::sent_since: case K::header: case K::body: case K::text:
        return true;
    case K::and_: case K::or_: case K::not_:
        for (auto& c : k.kids)
            if (search_needs_message(c)) return true;
        return false;
    default:
        return false;
    }
}

int search_eval_index(const search_key& k, const search_item& m) {
    switch (k.type) {
    case K::all: return 1;
    case K::none: return 0;
    case K::and_: {
        int r = 1;
        for (auto& c : k.kids) {
            int v = search_eval_index(c, m);
            if (v == 0) return 0;
            if (v < 0) r = -1;
        }
        return r;
    }
    case K::or_: {
        int r = 0;
        for (auto& c : k.kids) {
            int v = search_eval_index(c, m);
            if (v == 1) return 1;
            if (v < 0) r = -1;
        }
        return r;
    }
    case K::not_: {
        int v = search_eval_index(k.kids[0], m);
        return v < 0 ? -1 : !v;
    }
    case K::seq: return k.set.contains(m.seq);
    case K::uid: return k.set.contains(m.uid);
    case K::flags_set: return (m.flags & k.bits) == k.bits;
    case K::flags_clear: return (m.flags & k.bits) == 0;
    case K::keyword: return k.known && (m.keywords & k.bits) != 0;
    case K::unkeyword: return !k.known || (m.keywords & k.bits) == 0;
    case K::recent: return m.recent;
    case K::old: return !m.recent;
    case K::new_: return m.recent && !(m.flags & mailbox::flag::seen);
    case K::before: return local_day(m.internal_date) < k.num;
    case K::on: return local_day(m.internal_date) == k.num;
    case K::since: return local_day(m.internal_date) >= k.num;
    case K::larger: return m.size > uint64_t(k.num);
    case K::smaller: return m.size < uint64_t(k.num);
    case K::modseq: return m.modseq >= uint64_t(k.num);
    default: return -1;
    }
}

namespace {
bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }
}  // namespace

bool search_eval(const search_key& k, const search_item& m, message_text& t) {
    switch (k.type) {
    case K::and_:
        for (auto& c : k.kids)
            if (!search_eval(c, m, t)) return false;
        return true;
    case K::or_:
        for (auto& c : k.kids)
            if (search_eval(c, m, t)) return true;
        return false;
    case K::not_: return !search_eval(k.kids[0], m, t);
    case K::sent_before: case K::sent_on: case K::sent_since: {
        int64_t day = 0;
        if (!t.sent_date(&day)) day = local_day(m.internal_date);  // no usable Date: the arrival day
        if (k.type == K::sent_before) return day < k.num;
        if (k.type == K::sent_on) return day == k.num;
        return day >= k.num;
    }
    case K::header: {
        const header_section* h = t.header();
        if (!h) return false;
        for (const header_field* f : h->all(k.field)) {
            if (k.value.empty()) return true;
            if (contains(search_fold(decode_header_text(f->raw_value())), k.value)) return true;
        }
        return false;
    }
    case K::body: return t.message() && contains(t.body_text(), k.value);
    case K::text:
        return t.message() && (contains(t.header_text(), k.value) || contains(t.body_text(), k.value));
    default: return search_eval_index(k, m) == 1;
    }
}

}  // namespace tern::imap
