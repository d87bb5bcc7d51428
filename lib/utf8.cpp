// utf8.cpp - see utf8.hpp.
// SECURITY: reads untrusted bytes; never indexes past s.size().
#include "lib/utf8.hpp"

namespace tern {

size_t utf8_sequence_length(std::string_view s, size_t i) {
    if (i >= s.size()) return 0;
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned char c = b(0);
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte (RFC 3629 table)
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;         // no overlong forms
        else if (c == 0xED) hi = 0x9F;    // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        else if (c == 0xF4) hi = 0x8F;    // <= U+10FFFF
    } else {
        return 0;
    }
    if (s.size() - i < n) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if (b(k) < 0x80 || b(k) > 0xBF) return 0;
    return n;
}

bool utf8_valid(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        size_t n = utf8_sequence_length(s, i);
        if (!n) return false;
        i += n;
    }
    return true;
}

bool is_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

void utf8_append(std::string& out, uint32_t cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string utf8_sanitize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_sequence_length(s, i);
        if (n) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            utf8_append(out, 0xFFFD);
            ++i;
        }
    }
    return out;
}

std::string latin1_to_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char ch : s) utf8_append(out, static_cast<unsigned char>(ch));
    return out;
}

// windows-1252 0x80-0x9F; 0 marks the five unassigned positions (kept as C1 controls).
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

uint32_t cp1252_code_point(unsigned char c) {
    if (c >= 0x80 && c <= 0x9F && cp1252_high[c - 0x80]) return cp1252_high[c - 0x80];
    return c;
}

static void append_cp1252(std::string& out, unsigned char c) { utf8_append(out, cp1252_code_point(c)); }

std::string cp1252_to_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char ch : s) append_cp1252(out, static_cast<unsigned char>(ch));
    return out;
}

std::string utf8_or_cp1252(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_sequence_length(s, i);
        if (n) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            append_cp1252(out, static_cast<unsigned char>(s[i]));
            ++i;
        }
    }
    return out;
}

bool modified_utf7_valid(std::string_view s, std::string* why) {
    auto bad = [&](const char* w) {
        if (why) *why = w;
        return false;
    };
    auto b64 = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == ',') return 63;
        return -1;
    };
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c > 0x7e) return bad("8-bit or control character (names are modified UTF-7)");
        if (c != '&') continue;
        size_t j = i + 1;
        if (j < s.size() && s[j] == '-') {  // "&-" is "&"
            i = j;
            continue;
        }
        uint32_t bits = 0;
        int nbits = 0;
        uint32_t high = 0;  // pending high surrogate
        size_t units = 0;
        for (; j < s.size() && s[j] != '-'; ++j) {
            int v = b64(s[j]);
            if (v < 0) return bad("bad character in a modified UTF-7 run");
            bits = (bits << 6) | static_cast<uint32_t>(v);
            nbits += 6;
            if (nbits >= 16) {
                nbits -= 16;
                uint32_t u = (bits >> nbits) & 0xffff;
                bits &= (1u << nbits) - 1;
                ++units;
                if (high) {
                    if (u < 0xdc00 || u > 0xdfff) return bad("unpaired surrogate in modified UTF-7");
                    high = 0;
                } else if (u >= 0xd800 && u <= 0xdbff) {
                    high = u;
                } else if (u >= 0xdc00 && u <= 0xdfff) {
                    return bad("unpaired surrogate in modified UTF-7");
                } else if (u >= 0x20 && u <= 0x7e) {
                    return bad("printable ASCII encoded in modified UTF-7");
                }
            }
        }
        if (j >= s.size()) return bad("modified UTF-7 run without its closing \"-\"");
        if (units == 0) return bad("empty modified UTF-7 run");
        if (high) return bad("unpaired surrogate in modified UTF-7");
        if (nbits >= 6 || bits != 0) return bad("modified UTF-7 run with leftover bits");
        i = j;
    }
    return true;
}

}  // namespace tern
