// mime.cpp - header sections, RFC 2047 encoded words, RFC 2231 parameters and
// the Content-* fields. The tree is in mime_tree.cpp, decoders in mime_codec.cpp.
// SECURITY: parses untrusted message headers; linear scans, no recursion,
// every read bounds-checked, list sizes bounded by the limits passed in.
#include "lib/mime.hpp"

#include <algorithm>
#include <cstring>

#include "lib/strutil.hpp"
#include "lib/utf8.hpp"

namespace tern {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool valid_field_name(std::string_view n) {
    if (n.empty()) return false;
    for (unsigned char c : n)
        if (c < 33 || c > 126 || c == ':') return false;
    return true;
}

// RFC 2045 tspecials.
bool is_tspecial(char c) {
    switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':': case '\\':
    case '"': case '/': case '[': case ']': case '?': case '=':
        return true;
    default:
        return false;
    }
}

bool is_token_char(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u > 32 && u != 127 && !is_tspecial(c);
}

// Skips white space and (nested) comments; nesting is a counter.
size_t skip_cfws(std::string_view s, size_t i) {
    while (i < s.size()) {
        if (is_ws(s[i])) {
            ++i;
        } else if (s[i] == '(') {
            size_t depth = 0;
            while (i < s.size()) {
                char c = s[i];
                if (c == '\\') {
                    i += 2;
                    continue;
                }
                ++i;
                if (c == '(') ++depth;
                else if (c == ')' && --depth == 0) break;
            }
        } else {
            break;
        }
    }
    return std::min(i, s.size());
}

size_t scan_token(std::string_view s, size_t i) {
    while (i < s.size() && is_token_char(s[i])) ++i;
    return i;
}

// Quoted string at s[i] == '"': its content; i moves past the closing quote.
std::string read_quoted(std::string_view s, size_t& i) {
    std::string out;
    ++i;
    while (i < s.size()) {
        char c = s[i];
        if (c == '"') {
            ++i;
            return out;
        }
        if (c == '\\' && i + 1 < s.size()) {
            out += s[i + 1];
            i += 2;
            continue;
        }
        if (c != '\r' && c != '\n') out += c;
        ++i;
    }
    return out;
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// ----- RFC 2047 --------------------------------------------------------------

struct encoded_word {
    std::string_view charset;
    char encoding;  // 'B' or 'Q'
    std::string_view text;
    size_t end;     // index just past "?="
};

// Encoded word starting at s[p] ("=?"). Each scan stops at the next '?' or
// white space, so trying every "=?" in a string stays linear.
bool parse_encoded_word(std::string_view s, size_t p, encoded_word& w) {
    size_t q = p + 2;
    while (q < s.size() && s[q] != '?' && !is_ws(s[q]) && q - p < 80) ++q;
    if (q >= s.size() || s[q] != '?' || q == p + 2) return false;
    w.charset = s.substr(p + 2, q - p - 2);
    if (q + 2 >= s.size() || s[q + 2] != '?') return false;
    char e = s[q + 1];
    if (e == 'b' || e == 'B') w.encoding = 'B';
    else if (e == 'q' || e == 'Q') w.encoding = 'Q';
    else return false;
    size_t t = q + 3;
    size_t te = t;
    while (te < s.size() && s[te] != '?' && !is_ws(s[te])) ++te;
    if (te + 1 >= s.size() || s[te] != '?' || s[te + 1] != '=') return false;
    w.text = s.substr(t, te - t);
    w.end = te + 2;
    // RFC 2231 section 5: charset*language.
    size_t star = w.charset.find('*');
    if (star != std::string_view::npos) w.charset = w.charset.substr(0, star);
    return !w.charset.empty();
}

bool all_ws(std::string_view s) {
    for (char c : s)
        if (!is_ws(c)) return false;
    return true;
}

}  // namespace

// ----- header section ---------------------------------------------------------

std::string header_field::value() const { return std::string(trim(unfold(raw_value()))); }

const header_field* header_section::first(std::string_view name) const {
    for (const auto& f : fields)
        if (!f.malformed && iequals(f.name, name)) return &f;
    return nullptr;
}

std::vector<const header_field*> header_section::all(std::string_view name) const {
    std::vector<const header_field*> out;
    for (const auto& f : fields)
        if (!f.malformed && iequals(f.name, name)) out.push_back(&f);
    return out;
}

std::optional<std::string> header_section::get(std::string_view name) const {
    auto f = first(name);
    if (!f) return std::nullopt;
    return f->value();
}

size_t header_section::count(std::string_view name) const {
    size_t n = 0;
    for (const auto& f : fields)
        if (!f.malformed && iequals(f.name, name)) ++n;
    return n;
}

header_section parse_header(std::string_view msg, const header_limits& lim) {
    return parse_header(msg, 0, msg.size(), lim);
}

header_section parse_header(std::string_view msg, size_t offset, size_t end, const header_limits& lim) {
    header_section hs;
    end = std::min(end, msg.size());
    offset = std::min(offset, end);
    hs.offset = offset;
    size_t pos = offset;
    bool recording = true;
    size_t cur = SIZE_MAX;  // index of the field a continuation line extends
    while (pos < end) {
        const void* nl = std::memchr(msg.data() + pos, '\n', end - pos);
        size_t le = nl ? static_cast<size_t>(static_cast<const char*>(nl) - msg.data()) : end;
        size_t next = nl ? le + 1 : end;
        size_t ce = le;
        if (ce > pos && msg[ce - 1] == '\r') --ce;
        ++hs.lines;
        if (ce == pos) {  // the empty line
            hs.has_separator = true;
            pos = next;
            break;
        }
        if (recording && next - offset > lim.max_size) {
            recording = false;
            hs.truncated = true;
        }
        if (is_wsp(msg[pos]) && cur != SIZE_MAX) {
            if (recording) {
                header_field& f = hs.fields[cur];
                f.raw = msg.substr(f.offset, ce - f.offset);
                f.size = next - f.offset;
            }
        } else {
            cur = SIZE_MAX;
            if (recording && hs.fields.size() >= lim.max_fields) {
                recording = false;
                hs.truncated = true;
            }
            if (recording) {
                header_field f;
                f.offset = pos;
                f.raw = msg.substr(pos, ce - pos);
                f.size = next - pos;
                size_t colon = f.raw.find(':');
                std::string_view name;
                if (colon != std::string_view::npos) {
                    name = f.raw.substr(0, colon);
                    while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
                }
                if (colon != std::string_view::npos && valid_field_name(name)) {
                    f.name = name;
                    f.value_offset = colon + 1;
                } else {
                    f.malformed = true;
                }
                hs.fields.push_back(f);
                cur = hs.fields.size() - 1;
            }
        }
        pos = next;
    }
    hs.size = pos - offset;
    return hs;
}

std::string unfold(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (char c : raw)
        if (c != '\r' && c != '\n') out += c;
    return out;
}

// ----- RFC 2047 ----------------------------------------------------------------

std::string decode_rfc2047(std::string_view s) {
    std::string out;
    std::string pend;           // decoded bytes of adjacent words in one charset
    std::string pend_charset;
    bool have_pend = false;
    auto flush = [&]() {
        if (!have_pend) return;
        out += charset_to_utf8(pend, pend_charset);
        pend.clear();
        have_pend = false;
    };
    size_t lit = 0;  // start of text not yet emitted
    bool after_word = false;
    size_t i = 0;
    for (;;) {
        size_t p = s.find("=?", i);
        if (p == std::string_view::npos) break;
        encoded_word w;
        if (!parse_encoded_word(s, p, w)) {
            i = p + 2;
            continue;
        }
        bool bad = false;
        std::string bytes = w.encoding == 'B' ? base64_decode_lenient(w.text, &bad) : qp_decode(w.text, &bad, true);
        if (bad) {
            i = p + 2;
            continue;
        }
        std::string_view between = s.substr(lit, p - lit);
        if (!(after_word && all_ws(between)) && !between.empty()) {
            flush();
            out += utf8_or_cp1252(between);
        }
        std::string cs = to_lower(w.charset);
        if (have_pend && cs != pend_charset) flush();
        pend_charset = cs;
        pend += bytes;
        have_pend = true;
        after_word = true;
        lit = i = w.end;
    }
    flush();
    out += utf8_or_cp1252(s.substr(lit));
    return out;
}

std::string decode_header_text(std::string_view raw_value) {
    return std::string(trim(decode_rfc2047(unfold(raw_value))));
}

// ----- parameters ----------------------------------------------------------------

const mime_param* mime_params::find(std::string_view name) const {
    for (const auto& p : decoded)
        if (iequals(p.name, name)) return &p;
    return nullptr;
}

std::string mime_params::get(std::string_view name, std::string_view dflt) const {
    auto p = find(name);
    return p ? p->value : std::string(dflt);
}

mime_params parse_mime_params(std::string_view s, const mime_param_limits& lim) {
    mime_params out;
    struct piece {
        std::string base;  // lower-cased name without suffixes
        long index;        // section number, -1 when none
        bool ext;          // value is charset'lang'%XX (first) or %XX
        std::string value;
    };
    std::vector<piece> pieces;
    size_t i = 0;
    while (i < s.size()) {
        i = skip_cfws(s, i);
        if (i >= s.size()) break;
        if (s[i] == ';') {
            ++i;
            continue;
        }
        size_t a = i;
        i = scan_token(s, i);
        std::string_view attr = s.substr(a, i - a);
        i = skip_cfws(s, i);
        if (attr.empty() || i >= s.size() || s[i] != '=') {
            // Junk or a parameter without a value: skip to the next ';'.
            out.bad_syntax = true;
            while (i < s.size() && s[i] != ';') {
                if (s[i] == '"') read_quoted(s, i);
                else ++i;
            }
            continue;
        }
        i = skip_cfws(s, i + 1);
        std::string value;
        if (i < s.size() && s[i] == '"') {
            value = read_quoted(s, i);
            i = skip_cfws(s, i);
            if (i < s.size() && s[i] != ';') {
                out.bad_syntax = true;
                while (i < s.size() && s[i] != ';') ++i;
            }
        } else {
            // Unquoted: a run up to white space or ';' (tspecials such as '='
            // in unquoted boundaries are common and accepted); words after
            // white space are appended, as MUAs show them.
            for (;;) {
                size_t b = i;
                while (i < s.size() && !is_ws(s[i]) && s[i] != ';') ++i;
                if (i > b) {
                    if (!value.empty()) value += ' ';
                    value.append(s.substr(b, i - b));
                }
                i = skip_cfws(s, i);
                if (i >= s.size() || s[i] == ';') break;
                out.bad_syntax = true;
            }
        }
        if (out.raw.size() >= lim.max_params) {
            out.bad_syntax = true;
            continue;
        }
        out.raw.emplace_back(std::string(attr), value);

        piece pc{to_lower(attr), -1, false, std::move(value)};
        if (!pc.base.empty() && pc.base.back() == '*') {
            pc.ext = true;
            pc.base.pop_back();
        }
        size_t star = pc.base.rfind('*');
        if (star != std::string::npos) {
            std::string_view num = std::string_view(pc.base).substr(star + 1);
            auto n = parse_u64(num);
            if (n && num.size() <= 4 && (num.size() == 1 || num[0] != '0')) {
                if (*n >= lim.max_sections) {
                    out.bad_syntax = true;
                    continue;
                }
                pc.index = static_cast<long>(*n);
                pc.base.resize(star);
            }
        }
        if (pc.base.empty()) {
            out.bad_syntax = true;
            continue;
        }
        pieces.push_back(std::move(pc));
    }

    // Join per name, in first-seen order; an RFC 2231 form beats a plain one.
    std::vector<std::string> names;
    for (const auto& pc : pieces)
        if (std::find(names.begin(), names.end(), pc.base) == names.end()) names.push_back(pc.base);
    for (const auto& name : names) {
        std::vector<const piece*> sections;
        const piece* ext_whole = nullptr;
        const piece* plain = nullptr;
        for (const auto& pc : pieces) {
            if (pc.base != name) continue;
            if (pc.index >= 0) sections.push_back(&pc);
            else if (pc.ext && !ext_whole) ext_whole = &pc;
            else if (!pc.ext && !plain) plain = &pc;
            else out.bad_syntax = true;  // duplicate
        }
        mime_param mp;
        mp.name = name;
        auto split_charset = [&](std::string_view v, bool& has) -> std::string_view {
            // charset'language'value; both quotes must be there.
            size_t q1 = v.find('\'');
            size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
            if (q2 == std::string_view::npos) {
                has = false;
                return v;
            }
            has = true;
            mp.charset = to_lower(v.substr(0, q1));
            mp.language = std::string(v.substr(q1 + 1, q2 - q1 - 1));
            return v.substr(q2 + 1);
        };
        std::string bytes;
        bool converted = false;
        if (!sections.empty()) {
            std::stable_sort(sections.begin(), sections.end(),
                             [](const piece* x, const piece* y) { return x->index < y->index; });
            for (size_t k = 0; k < sections.size(); ++k) {
                const piece* pc = sections[k];
                if (k > 0 && pc->index == sections[k - 1]->index) {
                    out.bad_syntax = true;
                    continue;
                }
                if (pc->index != static_cast<long>(k)) out.bad_syntax = true;
                std::string_view v = pc->value;
                if (pc->ext) {
                    if (k == 0) {
                        bool has = false;
                        v = split_charset(v, has);
                    }
                    bytes += percent_decode(v);
                } else {
                    bytes += v;
                }
            }
            converted = true;
        } else if (ext_whole) {
            bool has = false;
            std::string_view v = split_charset(ext_whole->value, has);
            if (!has) out.bad_syntax = true;
            bytes = percent_decode(v);
            converted = true;
        }
        if (converted) {
            mp.value = mp.charset.empty() ? utf8_or_cp1252(bytes) : charset_to_utf8(bytes, mp.charset);
        } else if (plain) {
            // Non-standard but common: RFC 2047 words inside a quoted value.
            mp.value = decode_rfc2047(plain->value);
        }
        if (out.decoded.size() >= lim.max_params) break;
        out.decoded.push_back(std::move(mp));
    }
    return out;
}

// ----- Content-* fields ----------------------------------------------------------

bool content_type::is(std::string_view t) const { return type == t; }
bool content_type::is(std::string_view t, std::string_view sub) const { return type == t && subtype == sub; }
std::string content_type::charset() const {
    std::string c = to_lower(trim(params.get("charset")));
    return c.empty() ? "us-ascii" : c;
}

content_type parse_content_type(std::optional<std::string_view> value) {
    content_type ct;
    auto defaults = [&]() {
        content_type d;
        d.params.decoded.push_back({"charset", "us-ascii", "", ""});
        d.params.raw.emplace_back("charset", "us-ascii");
        return d;
    };
    if (!value) return defaults();
    std::string_view s = *value;
    size_t i = skip_cfws(s, 0);
    size_t b = i;
    i = scan_token(s, i);
    std::string_view type = s.substr(b, i - b);
    i = skip_cfws(s, i);
    if (type.empty() || i >= s.size() || s[i] != '/') return defaults();
    i = skip_cfws(s, i + 1);
    b = i;
    i = scan_token(s, i);
    std::string_view sub = s.substr(b, i - b);
    if (sub.empty()) return defaults();
    ct.type = to_lower(type);
    ct.subtype = to_lower(sub);
    ct.defaulted = false;
    ct.params = parse_mime_params(s.substr(i));
    return ct;
}

std::optional<content_disposition> parse_content_disposition(std::string_view s) {
    size_t i = skip_cfws(s, 0);
    size_t b = i;
    i = scan_token(s, i);
    if (i == b) return std::nullopt;
    content_disposition d;
    d.type = to_lower(s.substr(b, i - b));
    d.params = parse_mime_params(s.substr(i));
    return d;
}

std::string parse_content_transfer_encoding(std::optional<std::string_view> value) {
    if (!value) return "7bit";
    size_t i = skip_cfws(*value, 0);
    size_t b = i;
    i = scan_token(*value, i);
    if (i == b) return "7bit";
    return to_lower(value->substr(b, i - b));
}

std::vector<std::string> parse_content_language(std::string_view s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < s.size()) {
        i = skip_cfws(s, i);
        if (i >= s.size()) break;
        if (s[i] == ',') {
            ++i;
            continue;
        }
        size_t b = i;
        while (i < s.size() && !is_ws(s[i]) && s[i] != ',' && s[i] != '(') ++i;
        if (i == b) {
            ++i;
            continue;
        }
        if (out.size() < 64) out.emplace_back(s.substr(b, i - b));
    }
    return out;
}

std::string parse_content_location(std::string_view s) {
    std::string out;
    for (char c : s)
        if (!is_ws(c)) out += c;
    return out;
}

}  // namespace tern
