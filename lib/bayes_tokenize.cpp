// bayes_tokenize.cpp - the tokeniser of the Bayesian classifier: header
// fields with field-name prefixes, MIME structure, decoded text of every
// text part (lib/mime does the decoding), URLs and addresses.
// Called by lib/bayes.cpp (classify, learn) and the fuzz target.
// SECURITY: input is an untrusted message. The bytes read are capped by
// tokenizer_limits::max_bytes, the tokens by the token_set capacity, each
// token by token_set::max_token_bytes; lib/mime bounds the MIME work.
#include <algorithm>
#include <array>
#include <cstring>

#include "lib/addr.hpp"
#include "lib/bayes.hpp"
#include "lib/mime.hpp"
#include "lib/strutil.hpp"
#include "lib/utf8.hpp"

namespace tern::bayes {

// ---- token hash and set -----------------------------------------------------

uint64_t token_hash(std::string_view token) {
    // FNV-1a, then a final avalanche so that the low bits index well
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : token) h = (h ^ c) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h ? h : 1;
}

token_set::token_set(size_t max_tokens, bool keep_text) : _max(max_tokens), _keep_text(keep_text) {
    size_t cap = 64;
    while (cap < 2 * std::min<size_t>(max_tokens, 1024)) cap <<= 1;
    _table.assign(cap, 0);
}

void token_set::clear() {
    _hashes.clear();
    _texts.clear();
    std::fill(_table.begin(), _table.end(), 0);
}

bool token_set::insert_hash(uint64_t h) {
    if ((_hashes.size() + 1) * 2 > _table.size()) {
        std::vector<uint64_t> bigger(_table.size() * 2, 0);
        size_t mask = bigger.size() - 1;
        for (uint64_t x : _hashes) {
            size_t i = x & mask;
            while (bigger[i]) i = (i + 1) & mask;
            bigger[i] = x;
        }
        _table.swap(bigger);
    }
    size_t mask = _table.size() - 1;
    size_t i = h & mask;
    while (_table[i]) {
        if (_table[i] == h) return false;
        i = (i + 1) & mask;
    }
    _table[i] = h;
    return true;
}

bool token_set::add(std::string_view token) {
    if (full() || token.empty() || token.size() > max_token_bytes) return false;
    for (unsigned char c : token)
        if (c < 0x20 || c == 0x7f) return false;
    uint64_t h = token_hash(token);
    if (!insert_hash(h)) return false;
    _hashes.push_back(h);
    if (_keep_text) _texts.emplace_back(token);
    return true;
}

namespace {

// ---- character classes ------------------------------------------------------

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_punct(unsigned char c) { return c < 0x80 && c > ' ' && c != 0x7f && !is_alnum(c); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// Code point at s[i] (well-formed UTF-8 assumed: lib/mime hands out only
// that), advancing i; malformed bytes read as themselves.
uint32_t next_cp(std::string_view s, size_t& i) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (i + len > s.size() || c < 0xc0) {
        ++i;
        return c;
    }
    uint32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < len; k++) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    return cp;
}

// Scripts written without spaces between words: split into bigrams.
bool is_cjk(uint32_t cp) {
    return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
           (cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff66 && cp <= 0xff9f);
}

// Unicode white space that text/html leaves inside lines (no-break space,
// ideographic space, the U+2000 block): a word boundary too.
size_t unicode_space_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
    if (b(0) == 0xc2 && b(1) == 0xa0) return 2;
    if (b(0) == 0xe3 && b(1) == 0x80 && b(2) == 0x80) return 3;
    if (b(0) == 0xe2 && b(1) == 0x80 && b(2) >= 0x80 && b(2) <= 0x8a) return 3;
    return 0;
}

// Unicode punctuation that wraps words (quotes, guillemets, dashes,
// ellipsis, inverted marks, CJK full stops): the length of the code point
// at the start (front) or end of w when it is one, else 0.
bool wrapping_punct(uint32_t cp) {
    return cp == 0xa1 || cp == 0xab || cp == 0xbb || cp == 0xbf || (cp >= 0x2010 && cp <= 0x201f) ||
           cp == 0x2026 || cp == 0x2039 || cp == 0x203a || cp == 0x3001 || cp == 0x3002 || cp == 0xff01 ||
           cp == 0xff0c || cp == 0xff1f;
}
size_t punct_front(std::string_view w) {
    if (w.empty() || static_cast<unsigned char>(w[0]) < 0x80) return 0;
    size_t i = 0;
    return wrapping_punct(next_cp(w, i)) ? i : 0;
}
size_t punct_back(std::string_view w) {
    size_t start = w.size();
    while (start > 0 && (static_cast<unsigned char>(w[start - 1]) & 0xc0) == 0x80 && w.size() - start < 3) --start;
    if (start == 0 || static_cast<unsigned char>(w[start - 1]) < 0xc0) return 0;
    --start;
    size_t i = start;
    uint32_t cp = next_cp(w, i);
    return i == w.size() && wrapping_punct(cp) ? w.size() - start : 0;
}

size_t code_points(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xc0) != 0x80;
    return n;
}

// Header fields that say nothing about the sender: local mailbox state,
// this filter's own verdicts (a message moved into Junk carries them) and
// the lengths a local store adds.
bool ignored_field(std::string_view lname) {
    static constexpr std::array<std::string_view, 8> names = {
        "status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase", "content-length", "lines"};
    if (lname.starts_with("x-spam-") || lname.starts_with("x-tern-")) return true;
    return std::find(names.begin(), names.end(), lname) != names.end();
}

// A host name has a top-level label that holds a letter ("1.40",
// "fetchmail-5.9.0" are software versions in Received fields).
bool host_like(std::string_view h) {
    size_t dot = h.rfind('.');
    std::string_view tld = dot == std::string_view::npos ? h : h.substr(dot + 1);
    return std::any_of(tld.begin(), tld.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
}

// ---- the tokeniser ----------------------------------------------------------

constexpr size_t max_word = 20;  // longer words become "skip:" tokens

class tokenizer {
public:
    explicit tokenizer(token_set& out) : _out(out) {}

    void message(std::string_view msg, const tokenizer_limits& lim);

private:
    void emit(std::string_view prefix, std::string_view word) {
        _buf.assign(prefix);
        _buf.append(word);
        add();
    }
    void emit3(std::string_view a, std::string_view b, std::string_view c) {
        _buf.assign(a);
        _buf.append(b);
        _buf.append(c);
        add();
    }
    // Tokens are UTF-8: raw header bytes (addresses, Message-ID) that are
    // not get U+FFFD in place of the bad bytes.
    void add() {
        if (!is_ascii(_buf) && !utf8_valid(_buf)) _buf = utf8_sanitize(_buf);
        _out.add(_buf);
    }
    void text(std::string_view s, std::string_view prefix);
    void word(std::string_view w, std::string_view prefix);
    void plain_word(std::string_view w, std::string_view prefix);
    void cjk_word(std::string_view w, std::string_view prefix);
    void url(std::string_view u, std::string_view prefix);
    void host(std::string_view h, std::string_view prefix);
    void email(std::string_view w, std::string_view prefix);
    void header(const header_section& hs);
    void addresses(std::string_view value, std::string_view name);
    void received(std::string_view value);
    void structure(const mime_part& p, int depth);

    token_set& _out;
    std::string _buf;
    std::string _lw;  // lower-cased word
};

void tokenizer::text(std::string_view s, std::string_view prefix) {
    size_t i = 0;
    while (i < s.size() && !_out.full()) {
        while (i < s.size()) {
            if (is_space(static_cast<unsigned char>(s[i]))) {
                ++i;
            } else if (size_t u = unicode_space_len(s, i)) {
                i += u;
            } else {
                break;
            }
        }
        size_t start = i;
        while (i < s.size() && !is_space(static_cast<unsigned char>(s[i])) && !unicode_space_len(s, i)) ++i;
        if (i > start) word(s.substr(start, i - start), prefix);
    }
}

void tokenizer::word(std::string_view w, std::string_view prefix) {
    // link targets from html_to_text, and URLs written as text
    if (w.starts_with("href=")) return url(w.substr(5), prefix);
    if (w.starts_with("src=")) return url(w.substr(4), prefix);
    if (size_t p = w.find("://"); p != std::string_view::npos && p > 0 && p < 10) {
        size_t s = p;
        while (s > 0 && is_alnum(static_cast<unsigned char>(w[s - 1]))) --s;
        if (s > 0) plain_word(w.substr(0, s), prefix);
        return url(w.substr(s), prefix);
    }
    if (w.size() > 4 && istarts_with(w, "www.")) return url(w, prefix);

    // outer punctuation is noise, except a leading '$' and trailing '!'
    for (bool more = true; more && !w.empty();) {
        more = false;
        while (!w.empty() && is_punct(static_cast<unsigned char>(w[0])) && w[0] != '$') w.remove_prefix(1), more = true;
        if (size_t n = punct_front(w)) w.remove_prefix(n), more = true;
    }
    for (bool more = true; more && !w.empty();) {
        more = false;
        while (!w.empty() && is_punct(static_cast<unsigned char>(w.back())) && w.back() != '!') w.remove_suffix(1), more = true;
        if (size_t n = punct_back(w)) w.remove_suffix(n), more = true;
    }
    if (w.empty()) return;
    if (size_t at = w.find('@'); at != std::string_view::npos && at > 0 && w.find('.', at) != std::string_view::npos)
        return email(w, prefix);
    plain_word(w, prefix);
}

void tokenizer::plain_word(std::string_view w, std::string_view prefix) {
    bool ascii = true;
    for (unsigned char c : w)
        if (c >= 0x80) ascii = false;
    if (!ascii) {
        size_t i = 0;
        while (i < w.size()) {
            if (is_cjk(next_cp(w, i))) return cjk_word(w, prefix);
        }
    }
    size_t n = ascii ? w.size() : code_points(w);
    if (n < 3) return;
    if (n > max_word) {
        // long runs (encoded junk, hashes): their shape only
        char bucket[32];
        std::snprintf(bucket, sizeof bucket, ":%zu", n / 10 * 10);
        size_t first = 0;
        next_cp(w, first);
        _lw.assign("skip:");
        for (size_t k = 0; k < first; k++) _lw += lower(w[k]);
        _lw += bucket;
        return emit(prefix, _lw);
    }
    _lw.resize(w.size());
    for (size_t i = 0; i < w.size(); i++) _lw[i] = lower(w[i]);
    emit(prefix, _lw);
}

// Bigrams of CJK characters (words are not separated by spaces there);
// other characters of the word form ordinary words.
void tokenizer::cjk_word(std::string_view w, std::string_view prefix) {
    // a run without spaces can be long: its first 16 KiB are plenty
    if (w.size() > 16384) {
        size_t cut = 16384;
        while (cut > 0 && (static_cast<unsigned char>(w[cut]) & 0xc0) == 0x80) --cut;
        w = w.substr(0, cut);
    }
    struct piece {
        size_t start, end;
        bool cjk;
    };
    std::vector<piece> cps;
    for (size_t i = 0; i < w.size();) {
        size_t s = i;
        bool c = is_cjk(next_cp(w, i));
        cps.push_back({s, i, c});
    }
    size_t k = 0;
    while (k < cps.size() && !_out.full()) {
        size_t run = k;
        while (run < cps.size() && cps[run].cjk == cps[k].cjk) ++run;
        if (!cps[k].cjk) {
            plain_word(w.substr(cps[k].start, cps[run - 1].end - cps[k].start), prefix);
        } else if (run - k == 1) {
            emit(prefix, w.substr(cps[k].start, cps[k].end - cps[k].start));
        } else {
            for (size_t j = k; j + 1 < run; j++) emit(prefix, w.substr(cps[j].start, cps[j + 1].end - cps[j].start));
        }
        k = run;
    }
}

// URL: scheme, host and its parent domains, path pieces.
void tokenizer::url(std::string_view u, std::string_view prefix) {
    while (!u.empty() && (u.back() == '"' || u.back() == '\'' || u.back() == '>' || u.back() == ')' ||
                          u.back() == '.' || u.back() == ','))
        u.remove_suffix(1);
    // quotes and brackets around a link written in text ("http://...", <http://...>)
    while (!u.empty() && (u.front() == '"' || u.front() == '\'' || u.front() == '<' || u.front() == '('))
        u.remove_prefix(1);
    size_t p = u.find("://");
    std::string_view scheme = "http";
    if (p != std::string_view::npos) {
        scheme = u.substr(0, p);
        u = u.substr(p + 3);
    } else if (istarts_with(u, "mailto:")) {
        return email(u.substr(7), prefix);
    } else if (!istarts_with(u, "www.")) {
        // relative link or javascript: its words only
        _lw = to_lower(u.substr(0, std::min<size_t>(u.size(), 12)));
        return emit3(prefix, "url:rel:", _lw);
    }
    _lw = to_lower(scheme.substr(0, std::min<size_t>(scheme.size(), 10)));
    emit3(prefix, "proto:", _lw);
    size_t end = u.find_first_of("/?#");
    std::string_view authority = u.substr(0, end);
    std::string_view rest = end == std::string_view::npos ? std::string_view{} : u.substr(end);
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
        emit(prefix, "url:userinfo");
        authority = authority.substr(at + 1);
    }
    if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        emit(prefix, "url:port");
        authority = authority.substr(0, colon);
    }
    host(authority, prefix);
    if (rest.find('%') != std::string_view::npos) emit(prefix, "url:escaped");
    // path pieces
    size_t i = 0;
    int pieces = 0;
    while (i < rest.size() && pieces < 8) {
        while (i < rest.size() && std::strchr("/?#&=.-_;+", rest[i])) ++i;
        size_t s = i;
        while (i < rest.size() && !std::strchr("/?#&=.-_;+", rest[i])) ++i;
        std::string_view piece = rest.substr(s, i - s);
        if (piece.size() >= 3 && piece.size() <= max_word) {
            _lw = to_lower(piece);
            emit3(prefix, "url:", _lw);
            ++pieces;
        }
    }
}

// A host name: itself and its parent domains (at least two labels); an
// address literal: "ip" and its /24 and /16.
void tokenizer::host(std::string_view h, std::string_view prefix) {
    if (h.empty() || h.size() > 80) return;
    _lw = to_lower(h);
    std::string name = _lw;
    bool numeric = std::all_of(name.begin(), name.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (numeric) {
        emit(prefix, "url:ip");
        size_t dot = name.rfind('.');
        if (dot != std::string::npos) emit3(prefix, "url:ip:", std::string_view(name).substr(0, dot));
        return;
    }
    std::string_view d = name;
    int levels = 0;
    while (levels < 4) {
        emit3(prefix, "url:", d);
        size_t dot = d.find('.');
        if (dot == std::string_view::npos || d.find('.', dot + 1) == std::string_view::npos) break;
        d = d.substr(dot + 1);
        ++levels;
    }
}

void tokenizer::email(std::string_view w, std::string_view prefix) {
    size_t at = w.rfind('@');
    if (at == std::string_view::npos) return;
    std::string dom = to_lower(w.substr(at + 1));
    // mailto:addr?subject=...: the query is not part of the domain
    if (size_t q = dom.find_first_of("?&"); q != std::string::npos) dom.resize(q);
    while (!dom.empty() && is_punct(static_cast<unsigned char>(dom.back()))) dom.pop_back();
    if (dom.empty() || dom.size() > 80) return;
    std::string_view d = dom;
    for (int levels = 0; levels < 4; levels++) {
        emit3(prefix, "email:", d);
        size_t dot = d.find('.');
        if (dot == std::string_view::npos || d.find('.', dot + 1) == std::string_view::npos) break;
        d = d.substr(dot + 1);
    }
    std::string local = to_lower(w.substr(0, at));
    if (!local.empty() && local.size() <= max_word) emit3(prefix, "email:name:", local);
}

// Mail addresses of an originator or recipient field: the address, its
// domain and parent domains, the words of the display name.
void tokenizer::addresses(std::string_view value, std::string_view name) {
    address_list_limits lim;
    lim.max_addresses = 20;
    lim.max_length = 4096;
    auto list = parse_address_list(value, lim);
    std::string prefix(name);
    prefix += ':';
    size_t n = 0;
    for (const auto& a : list.items) {
        if (a.type != mail_address::kind::mailbox) continue;
        ++n;
        if (a.domain.empty()) {
            emit(prefix, "addr:nodomain");
        } else {
            std::string dom = to_lower(a.domain);
            std::string_view d = dom;
            for (int levels = 0; levels < 4; levels++) {
                emit3(prefix, "domain:", d);
                size_t dot = d.find('.');
                if (dot == std::string_view::npos || d.find('.', dot + 1) == std::string_view::npos) break;
                d = d.substr(dot + 1);
            }
            if (a.local.size() <= 40) emit3(prefix, "addr:", to_lower(a.address()));
        }
        if (a.display.empty()) {
            emit(prefix, "name:none");
        } else {
            text(a.display, prefix + "name:");
        }
    }
    if (n == 0) emit(prefix, "none");
    else if (n > 1) emit3(prefix, "count:", n > 10 ? "many" : n > 3 ? "several" : "few");
}

// Received: host names and address literals of the relays.
void tokenizer::received(std::string_view value) {
    std::string v = unfold(value);
    size_t i = 0;
    int found = 0;
    while (i < v.size() && found < 12) {
        while (i < v.size() && !is_alnum(static_cast<unsigned char>(v[i]))) ++i;
        size_t s = i;
        while (i < v.size() && (is_alnum(static_cast<unsigned char>(v[i])) || v[i] == '.' || v[i] == '-')) ++i;
        std::string_view tok = std::string_view(v).substr(s, i - s);
        while (!tok.empty() && (tok.back() == '.' || tok.back() == '-')) tok.remove_suffix(1);
        if (tok.find('.') == std::string_view::npos || tok.size() > 80) continue;
        std::string t = to_lower(tok);
        bool numeric = std::all_of(t.begin(), t.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
        if (!numeric && !host_like(t)) continue;  // software versions: fetchmail-5.9.0, v4.1.40
        if (numeric) {
            // an IPv4 address (skip version numbers such as 8.11.6)
            if (std::count(t.begin(), t.end(), '.') != 3) continue;
            size_t dot = t.rfind('.');
            emit("received:ip:", std::string_view(t).substr(0, dot));
            size_t dot2 = t.rfind('.', dot - 1);
            if (dot2 != std::string::npos) emit("received:ip:", std::string_view(t).substr(0, dot2));
        } else {
            std::string_view d = t;
            int labels = 0;
            while (labels < 3) {
                emit("received:", d);
                size_t dot = d.find('.');
                if (dot == std::string_view::npos || d.find('.', dot + 1) == std::string_view::npos) break;
                d = d.substr(dot + 1);
                ++labels;
            }
        }
        ++found;
    }
}

void tokenizer::header(const header_section& hs) {
    size_t received_count = 0;
    for (const auto& f : hs.fields) {
        if (_out.full()) return;
        if (f.malformed) {
            emit("header:", "malformed");
            continue;
        }
        std::string lname = to_lower(f.name.substr(0, std::min<size_t>(f.name.size(), 40)));
        if (ignored_field(lname)) continue;
        std::string_view raw = f.raw_value();
        if (lname == "subject") {
            std::string s = decode_header_text(raw);
            if (s.empty()) emit("subject:", "empty");
            text(s, "subject:");
        } else if (lname == "from" || lname == "reply-to" || lname == "to" || lname == "cc") {
            addresses(raw, lname);
        } else if (lname == "received") {
            if (++received_count <= 8) received(raw);
        } else if (lname == "message-id") {
            std::string v = to_lower(trim(unfold(raw)));
            size_t at = v.rfind('@');
            if (v.size() < 3 || v.front() != '<' || v.back() != '>' || at == std::string::npos) {
                emit("message-id:", "malformed");
            } else {
                emit("message-id:@", std::string_view(v).substr(at + 1, v.size() - at - 2));
            }
        } else if (lname == "x-mailer" || lname == "user-agent" || lname == "x-mimeole") {
            std::string v = to_lower(decode_header_text(raw));
            if (v.size() > 60) v.resize(60);
            emit3(lname, ":=", v);
            text(v, lname + ":");
        }
    }
    emit("received:count:", std::to_string(std::min<size_t>(received_count, 10)));
}

// Content types, charsets and encodings of every part; attachment names.
void tokenizer::structure(const mime_part& p, int depth) {
    if (_out.full() || depth > 8) return;
    emit3("ct:", p.type.type, "/" + p.type.subtype);
    if (!p.type.defaulted) {
        std::string cs = p.type.charset();
        if (!cs.empty()) emit("charset:", cs);
    }
    emit("cte:", p.encoding);
    if (p.disposition) {
        emit("disposition:", p.disposition->type);
        std::string fn = p.disposition->params.get("filename");
        if (fn.empty()) fn = p.type.params.get("name");
        if (size_t dot = fn.rfind('.'); dot != std::string::npos && fn.size() - dot <= 6)
            emit("filename:", to_lower(std::string_view(fn).substr(dot)));
    }
    for (const auto& c : p.children) structure(c, depth + 1);
}

void tokenizer::message(std::string_view msg, const tokenizer_limits& lim) {
    if (msg.size() > lim.max_bytes) msg = msg.substr(0, lim.max_bytes);
    mime_limits ml;
    ml.max_depth = 16;
    ml.max_parts = 200;
    ml.max_total_fields = 2000;
    ml.header.max_fields = 300;
    ml.header.max_size = 64 * 1024;
    mime_tree tree = parse_mime(msg, ml);
    header(tree.root.header);
    structure(tree.root, 0);
    text_limits tl;
    tl.max_part_bytes = lim.max_bytes;
    tl.max_total_bytes = lim.max_bytes;
    for_each_text_part(
        msg, tree.root,
        [&](const mime_part&, std::string_view utf8) {
            if (!_out.full()) text(utf8, "");
        },
        tl);
}

}  // namespace

void tokenize(std::string_view msg, token_set& out, const tokenizer_limits& lim) {
    tokenizer t(out);
    t.message(msg, lim);
}

}  // namespace tern::bayes
