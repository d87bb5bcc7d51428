// mime_codec.cpp - transfer decoders (base64, quoted-printable), the
// quoted-printable encoder, charset conversion to UTF-8 (iconv) and the
// HTML-to-text reducer.
// Called by lib/mime (RFC 2047, parameters, text of parts), smtp-client
// (8BITMIME downgrade), spamd and imapd (through part_text).
// SECURITY: all input is untrusted message content. Single linear passes;
// output bounded by a small multiple of the input; charset names from the
// message are checked before they reach iconv_open(3).
#include "lib/mime.hpp"

#include <cerrno>
#include <cstring>
#include <iconv.h>
#include <memory>

#include "lib/strutil.hpp"
#include "lib/utf8.hpp"

namespace tern {

namespace {

int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

struct iconv_closer {
    void operator()(void* cd) const noexcept { iconv_close(static_cast<iconv_t>(cd)); }
};
using iconv_handle = std::unique_ptr<void, iconv_closer>;

enum class cs_kind { ascii, utf8, cp1252, iconv };

struct cs_choice {
    cs_kind kind;
    std::string iconv_name;
};

// Maps a charset label from a message to what converts it. Labels that are
// not plain names never reach iconv_open.
cs_choice classify_charset(std::string_view label) {
    std::string cs = to_lower(trim(label));
    if (cs.size() >= 2 && cs.front() == '"' && cs.back() == '"') cs = cs.substr(1, cs.size() - 2);
    static const char* const ascii[] = {"", "us-ascii", "ascii", "us_ascii", "ansi_x3.4-1968", "iso646-us",
                                        "unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined",
                                        "us", "7bit", "8bit"};
    for (auto a : ascii)
        if (cs == a) return {cs_kind::ascii, ""};
    if (cs == "utf-8" || cs == "utf8" || cs == "x-utf8" || cs == "utf-8-bom") return {cs_kind::utf8, ""};
    static const char* const latin[] = {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1",
                                        "windows-1252", "cp1252", "x-cp1252", "cp819", "ibm819"};
    for (auto a : latin)
        if (cs == a) return {cs_kind::cp1252, ""};
    if (cs.size() > 40) return {cs_kind::ascii, ""};
    for (unsigned char c : cs)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':' ||
              c == '+'))
            return {cs_kind::ascii, ""};
    // Labels whose usual content is a superset of the named charset.
    static const std::pair<const char*, const char*> alias[] = {
        {"gb2312", "GB18030"},    {"gbk", "GB18030"},         {"x-gbk", "GB18030"},
        {"euc-cn", "GB18030"},    {"ks_c_5601-1987", "CP949"}, {"euc-kr", "CP949"},
        {"iso-8859-8-i", "ISO-8859-8"}, {"x-sjis", "SHIFT_JIS"}, {"shift-jis", "SHIFT_JIS"},
        {"x-mac-roman", "MACINTOSH"}, {"iso-8859-9", "CP1254"}, {"tis-620", "CP874"}};
    for (auto& [from, to] : alias)
        if (cs == from) return {cs_kind::iconv, to};
    return {cs_kind::iconv, to_upper(cs)};
}

iconv_handle open_iconv(const std::string& name) {
    iconv_t cd = iconv_open("UTF-8", name.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) return iconv_handle(nullptr);
    return iconv_handle(cd);
}

}  // namespace

// ----- transfer encodings ---------------------------------------------------

std::string base64_decode_lenient(std::string_view in, bool* error) {
    std::string out;
    out.reserve(in.size() / 4 * 3 + 3);
    uint32_t acc = 0;
    int bits = 0;
    bool err = false, padded = false;
    for (char ch : in) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c == '=') {
            // End of a quantum: leftover bits are padding.
            acc = 0;
            bits = 0;
            padded = true;
            continue;
        }
        int v = b64val(c);
        if (v < 0) {
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') err = true;
            continue;
        }
        if (padded) {
            err = true;  // data after padding (concatenated base64): decoded anyway
            padded = false;
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
            acc &= (1u << bits) - 1;
        }
    }
    if (bits == 6) err = true;  // a lone character cannot encode a byte
    if (error) *error = err;
    return out;
}

std::string qp_decode(std::string_view in, bool* error, bool q_encoding) {
    std::string out;
    out.reserve(in.size());
    bool err = false;
    const size_t n = in.size();
    size_t i = 0;
    while (i < n) {
        char c = in[i];
        if (c == '=') {
            if (i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
                out += static_cast<char>(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
                i += 3;
                continue;
            }
            if (!q_encoding) {
                // Soft line break, possibly with (illegal) white space before it.
                size_t j = i + 1;
                while (j < n && is_wsp(in[j])) ++j;
                if (j == n) {
                    i = n;
                    continue;
                }
                if (in[j] == '\n') {
                    i = j + 1;
                    continue;
                }
                if (in[j] == '\r' && (j + 1 == n || in[j + 1] == '\n')) {
                    i = std::min(n, j + 2);
                    continue;
                }
            }
            err = true;
            out += c;
            ++i;
            continue;
        }
        if (q_encoding) {
            out += c == '_' ? ' ' : c;
            ++i;
            continue;
        }
        if (is_wsp(c)) {
            // Trailing white space is transport padding (RFC 2045 6.7 rule 3).
            size_t j = i;
            while (j < n && is_wsp(in[j])) ++j;
            bool eol = j == n || in[j] == '\n' || (in[j] == '\r' && (j + 1 == n || in[j + 1] == '\n'));
            if (!eol) out.append(in.substr(i, j - i));
            i = j;
            continue;
        }
        out += c;
        ++i;
    }
    if (error) *error = err;
    return out;
}

std::string qp_encode(std::string_view in, std::string_view eol) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(in.size() + in.size() / 8);
    size_t i = 0;
    while (i < in.size()) {
        size_t le = in.find('\n', i);
        bool has_eol = le != std::string_view::npos;
        size_t end = has_eol ? le : in.size();
        size_t content_end = end;
        if (has_eol && content_end > i && in[content_end - 1] == '\r') --content_end;
        std::string_view line = in.substr(i, content_end - i);
        size_t len = 0;
        for (size_t k = 0; k < line.size(); ++k) {
            unsigned char c = static_cast<unsigned char>(line[k]);
            bool last = k + 1 == line.size();
            bool enc = c == '=' || c >= 127 || (c < 32 && c != '\t') || (is_wsp(static_cast<char>(c)) && last) ||
                       (k == 0 && c == 'F' && line.substr(0, 5) == "From ");
            char tok[3];
            size_t tl = 1;
            if (enc) {
                tok[0] = '=';
                tok[1] = hex[c >> 4];
                tok[2] = hex[c & 15];
                tl = 3;
            } else {
                tok[0] = static_cast<char>(c);
            }
            // 76 characters per line: 75 and a soft break, or 76 at the end.
            if (len + tl > 75 && !(last && len + tl <= 76)) {
                out += '=';
                out += eol;
                len = 0;
            }
            out.append(tok, tl);
            len += tl;
        }
        if (has_eol) out += eol;
        i = has_eol ? le + 1 : in.size();
    }
    return out;
}

std::string decode_transfer_encoding(std::string_view body, std::string_view encoding, bool* error) {
    if (error) *error = false;
    if (iequals(encoding, "base64")) return base64_decode_lenient(body, error);
    if (iequals(encoding, "quoted-printable")) return qp_decode(body, error);
    return std::string(body);
}

// ----- charsets --------------------------------------------------------------

bool charset_known(std::string_view charset) {
    cs_choice c = classify_charset(charset);
    if (c.kind != cs_kind::iconv) return true;
    return open_iconv(c.iconv_name) != nullptr;
}

std::string charset_to_utf8(std::string_view in, std::string_view charset, bool* lossy) {
    bool loss = false;
    std::string out;
    cs_choice c = classify_charset(charset);
    iconv_handle cd;
    if (c.kind == cs_kind::iconv) {
        cd = open_iconv(c.iconv_name);
        if (!cd) c.kind = cs_kind::ascii;  // unknown charset: the fallback
    }
    switch (c.kind) {
    case cs_kind::ascii:
        if (is_ascii(in)) {
            out.assign(in);
        } else {
            loss = !utf8_valid(in);
            out = utf8_or_cp1252(in);
        }
        break;
    case cs_kind::utf8:
        if (utf8_valid(in)) {
            out.assign(in);
        } else {
            loss = true;
            out = utf8_sanitize(in);
        }
        break;
    case cs_kind::cp1252:
        out = cp1252_to_utf8(in);
        break;
    case cs_kind::iconv: {
        iconv_t h = static_cast<iconv_t>(cd.get());
        char buf[4096];
        char* inp = const_cast<char*>(in.data());
        size_t inleft = in.size();
        out.reserve(in.size() + in.size() / 2);
        while (inleft > 0) {
            char* outp = buf;
            size_t outleft = sizeof buf;
            size_t r = iconv(h, &inp, &inleft, &outp, &outleft);
            out.append(buf, static_cast<size_t>(outp - buf));
            if (r != static_cast<size_t>(-1)) continue;
            if (errno == E2BIG) continue;
            loss = true;
            utf8_append(out, 0xFFFD);
            if (errno == EILSEQ) {
                ++inp;
                --inleft;
            } else {
                break;  // EINVAL: truncated sequence at the end
            }
        }
        char* outp = buf;
        size_t outleft = sizeof buf;
        iconv(h, nullptr, nullptr, &outp, &outleft);
        out.append(buf, static_cast<size_t>(outp - buf));
        if (!utf8_valid(out)) {
            loss = true;
            out = utf8_sanitize(out);
        }
        break;
    }
    }
    if (lossy) *lossy = loss;
    return out;
}

// ----- HTML ------------------------------------------------------------------

namespace {

struct entity {
    const char* name;
    uint32_t cp;
};

// Named character references most seen in mail (HTML5 names).
const entity entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"euro", 0x20AC}, {"pound", 0xA3}, {"yen", 0xA5},
    {"cent", 0xA2}, {"sect", 0xA7}, {"deg", 0xB0}, {"plusmn", 0xB1}, {"middot", 0xB7}, {"para", 0xB6},
    {"laquo", 0xAB}, {"raquo", 0xBB}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"sbquo", 0x201A}, {"bdquo", 0x201E}, {"ndash", 0x2013}, {"mdash", 0x2014},
    {"hellip", 0x2026}, {"bull", 0x2022}, {"times", 0xD7}, {"divide", 0xF7}, {"shy", 0xAD},
    {"zwnj", 0x200C}, {"zwj", 0x200D}, {"thinsp", 0x2009}, {"ensp", 0x2002}, {"emsp", 0x2003},
    {"iexcl", 0xA1}, {"iquest", 0xBF}, {"szlig", 0xDF}, {"auml", 0xE4}, {"ouml", 0xF6}, {"uuml", 0xFC},
    {"Auml", 0xC4}, {"Ouml", 0xD6}, {"Uuml", 0xDC}, {"aacute", 0xE1}, {"eacute", 0xE9}, {"iacute", 0xED},
    {"oacute", 0xF3}, {"uacute", 0xFA}, {"Aacute", 0xC1}, {"Eacute", 0xC9}, {"Iacute", 0xCD},
    {"Oacute", 0xD3}, {"Uacute", 0xDA}, {"agrave", 0xE0}, {"egrave", 0xE8}, {"igrave", 0xEC},
    {"ograve", 0xF2}, {"ugrave", 0xF9}, {"Agrave", 0xC0}, {"Egrave", 0xC8}, {"acirc", 0xE2},
    {"ecirc", 0xEA}, {"icirc", 0xEE}, {"ocirc", 0xF4}, {"ucirc", 0xFB}, {"Ecirc", 0xCA}, {"atilde", 0xE3},
    {"otilde", 0xF5}, {"ntilde", 0xF1}, {"Ntilde", 0xD1}, {"ccedil", 0xE7}, {"Ccedil", 0xC7},
    {"aring", 0xE5}, {"Aring", 0xC5}, {"aelig", 0xE6}, {"AElig", 0xC6}, {"oslash", 0xF8},
    {"Oslash", 0xD8}, {"euml", 0xEB}, {"iuml", 0xEF}, {"yuml", 0xFF}, {"scaron", 0x161}, {"Scaron", 0x160},
    {"oelig", 0x153}, {"OElig", 0x152}, {"rarr", 0x2192}, {"larr", 0x2190}, {"hearts", 0x2665},
    {"star", 0x2606}, {"check", 0x2713}, {"frac12", 0xBD}, {"frac14", 0xBC}, {"frac34", 0xBE},
};

// Invisible characters used to split words past filters: dropped.
bool invisible(uint32_t cp) {
    return cp == 0xAD || cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 || cp == 0xFEFF ||
           cp == 0x034F;
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

// Character reference at s[i] == '&': its code point, i moved past it.
// Returns false (i unchanged) when it is not one.
bool read_entity(std::string_view s, size_t& i, uint32_t& cp) {
    size_t j = i + 1;
    if (j < s.size() && s[j] == '#') {
        ++j;
        bool hexa = j < s.size() && (s[j] == 'x' || s[j] == 'X');
        if (hexa) ++j;
        size_t b = j;
        uint32_t v = 0;
        while (j < s.size() && j - b < 8) {
            int d = hexa ? hexval(s[j]) : (s[j] >= '0' && s[j] <= '9' ? s[j] - '0' : -1);
            if (d < 0) break;
            v = v * (hexa ? 16 : 10) + static_cast<uint32_t>(d);
            ++j;
        }
        if (j == b) return false;
        while (j < s.size() && (hexa ? hexval(s[j]) >= 0 : (s[j] >= '0' && s[j] <= '9'))) {
            v = 0x110000;  // absurdly long: out of range
            ++j;
        }
        if (j < s.size() && s[j] == ';') ++j;
        if (v == 0 || v > 0x10FFFF) v = 0xFFFD;
        // Numeric references in 0x80-0x9F mean windows-1252 (HTML5).
        if (v >= 0x80 && v <= 0x9F) v = cp1252_code_point(static_cast<unsigned char>(v));
        cp = v;
        i = j;
        return true;
    }
    size_t b = j;
    while (j < s.size() && is_alnum(s[j]) && j - b < 10) ++j;
    std::string_view name = s.substr(b, j - b);
    if (name.empty()) return false;
    for (const auto& e : entities) {
        if (name == e.name) {
            cp = e.cp;
            if (j < s.size() && s[j] == ';') ++j;
            i = j;
            return true;
        }
    }
    return false;
}

std::string decode_entities(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        uint32_t cp;
        if (s[i] == '&' && read_entity(s, i, cp)) {
            if (!invisible(cp)) utf8_append(out, cp);
        } else {
            out += s[i++];
        }
    }
    return out;
}

// Case-insensitive search for an ASCII needle.
size_t find_ci(std::string_view s, std::string_view needle, size_t from) {
    if (needle.empty() || s.size() < needle.size()) return std::string_view::npos;
    for (size_t i = from; i + needle.size() <= s.size(); ++i) {
        size_t k = 0;
        while (k < needle.size() && std::tolower(static_cast<unsigned char>(s[i + k])) == needle[k]) ++k;
        if (k == needle.size()) return i;
    }
    return std::string_view::npos;
}

bool is_block(std::string_view t) {
    static const char* const block[] = {"br", "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3",
                                        "h4", "h5", "h6", "blockquote", "hr", "title", "dd", "dt", "dl",
                                        "pre", "section", "article", "header", "footer", "center", "form",
                                        "address", "tbody", "thead", "body", "html", "head", "option"};
    for (auto b : block)
        if (t == b) return true;
    return false;
}

class html_reducer {
public:
    explicit html_reducer(std::string_view h) : _h(h) { _out.reserve(h.size()); }

    std::string run() {
        size_t i = 0;
        const size_t n = _h.size();
        while (i < n) {
            char c = _h[i];
            if (c == '<') {
                i = tag(i);
            } else if (c == '&') {
                uint32_t cp;
                if (read_entity(_h, i, cp)) {
                    if (cp == 0xA0 || cp == 0x2002 || cp == 0x2003 || cp == 0x2009) space();
                    else if (!invisible(cp)) {
                        std::string u;
                        utf8_append(u, cp);
                        text(u);
                    }
                } else {
                    text("&");
                    ++i;
                }
            } else if (is_space(c)) {
                space();
                ++i;
            } else {
                // Raw invisible characters (U+00AD, U+200B-U+200D, U+2060, U+FEFF) are dropped too.
                size_t len = utf8_sequence_length(_h, i);
                if (len >= 2) {
                    std::string_view seq = _h.substr(i, len);
                    if (seq == "\xC2\xAD" || seq == "\xE2\x80\x8B" || seq == "\xE2\x80\x8C" ||
                        seq == "\xE2\x80\x8D" || seq == "\xE2\x81\xA0" || seq == "\xEF\xBB\xBF") {
                        i += len;
                        continue;
                    }
                    text(seq);
                    i += len;
                } else if (static_cast<unsigned char>(c) >= 0x80) {
                    text("\xEF\xBF\xBD");  // not UTF-8: U+FFFD keeps the output well-formed
                    ++i;
                } else {
                    text(std::string_view(&_h[i], 1));
                    ++i;
                }
            }
        }
        while (!_out.empty() && (_out.back() == ' ' || _out.back() == '\n')) _out.pop_back();
        return std::move(_out);
    }

private:
    void text(std::string_view t) {
        if (_space && !_out.empty() && _out.back() != '\n') _out += ' ';
        _space = false;
        _out += t;
    }
    void space() { _space = true; }
    void newline() {
        while (!_out.empty() && _out.back() == ' ') _out.pop_back();
        if (!_out.empty() && _out.back() != '\n') _out += '\n';
        _space = false;
    }

    // Handles the markup at _h[i] == '<'; returns the index after it.
    size_t tag(size_t i) {
        const size_t n = _h.size();
        if (_h.substr(i, 4) == "<!--") {
            size_t e = _h.find("-->", i + 4);
            return e == std::string_view::npos ? n : e + 3;
        }
        size_t j = i + 1;
        if (j < n && (_h[j] == '!' || _h[j] == '?')) {
            size_t e = _h.find('>', j);
            return e == std::string_view::npos ? n : e + 1;
        }
        bool closing = j < n && _h[j] == '/';
        if (closing) ++j;
        if (j >= n || !is_alpha(_h[j])) {
            text("<");
            return i + 1;
        }
        size_t nb = j;
        while (j < n && is_alnum(_h[j])) ++j;
        std::string name = to_lower(_h.substr(nb, std::min<size_t>(j - nb, 16)));
        // Attributes up to the '>' that is not inside quotes.
        std::string href, src;
        while (j < n && _h[j] != '>') {
            if (is_space(_h[j]) || _h[j] == '/') {
                ++j;
                continue;
            }
            size_t ab = j;
            while (j < n && !is_space(_h[j]) && _h[j] != '=' && _h[j] != '>' && _h[j] != '/') ++j;
            std::string attr = to_lower(_h.substr(ab, std::min<size_t>(j - ab, 16)));
            if (j == ab) {
                ++j;
                continue;
            }
            while (j < n && is_space(_h[j])) ++j;
            if (j >= n || _h[j] != '=') continue;
            ++j;
            while (j < n && is_space(_h[j])) ++j;
            std::string_view val;
            if (j < n && (_h[j] == '"' || _h[j] == '\'')) {
                char q = _h[j];
                size_t e = _h.find(q, j + 1);
                if (e == std::string_view::npos) e = n;
                val = _h.substr(j + 1, e - j - 1);
                j = std::min(n, e + 1);
            } else {
                size_t vb = j;
                while (j < n && !is_space(_h[j]) && _h[j] != '>') ++j;
                val = _h.substr(vb, j - vb);
            }
            if (attr == "href" && href.empty()) href = utf8_sanitize(trim(decode_entities(val)));
            else if (attr == "src" && src.empty()) src = utf8_sanitize(trim(decode_entities(val)));
        }
        size_t after = j < n ? j + 1 : n;
        if (!closing && (name == "script" || name == "style")) {
            size_t e = find_ci(_h, name == "script" ? "</script" : "</style", after);
            if (e == std::string_view::npos) return n;
            size_t gt = _h.find('>', e);
            return gt == std::string_view::npos ? n : gt + 1;
        }
        if (is_block(name)) newline();
        else if (name == "td" || name == "th") space();
        if (!closing) {
            // URLs as tokens; the spaces keep them apart from the text.
            auto clean = [](std::string v) {
                for (auto& ch : v)
                    if (is_space(ch)) ch = '+';
                return v;
            };
            if (!href.empty()) {
                space();
                text("href=" + clean(href));
                space();
            }
            if (!src.empty()) {
                space();
                text("src=" + clean(src));
                space();
            }
        }
        return after;
    }

    std::string_view _h;
    std::string _out;
    bool _space = false;
};

}  // namespace

std::string html_to_text(std::string_view html) { return html_reducer(html).run(); }

}  // namespace tern
