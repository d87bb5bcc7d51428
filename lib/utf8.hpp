// utf8.hpp - UTF-8 validation and conversion of single-byte text to UTF-8.
// Called by lib/addr (SMTPUTF8 addresses) and lib/mime (header and body text
// for imapd SEARCH and the spam tokeniser).
// SECURITY: input is untrusted bytes; every function is total (no throw on
// bad input, output bounded by 3x input).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tern {

// Length of the well-formed UTF-8 sequence starting at s[i] (1-4), or 0 when
// the bytes there are not one (overlong, surrogate, > U+10FFFF, truncated).
size_t utf8_sequence_length(std::string_view s, size_t i);

// True when s is entirely well-formed UTF-8 (RFC 3629).
bool utf8_valid(std::string_view s);

// True when every byte is < 0x80.
bool is_ascii(std::string_view s);

// Appends code point cp as UTF-8; surrogates and values > U+10FFFF become U+FFFD.
void utf8_append(std::string& out, uint32_t cp);

// Replaces every byte that is not part of a well-formed sequence with U+FFFD.
std::string utf8_sanitize(std::string_view s);

// The code point of a windows-1252 byte (0x80-0x9F mapped, others unchanged).
uint32_t cp1252_code_point(unsigned char c);

// ISO-8859-1 (exact) and windows-1252 (latin1 with the 0x80-0x9F printables) to UTF-8.
std::string latin1_to_utf8(std::string_view s);
std::string cp1252_to_utf8(std::string_view s);

// The fallback for text of unknown or wrong charset: well-formed UTF-8
// sequences pass through; any other byte is read as windows-1252.
std::string utf8_or_cp1252(std::string_view s);

// True when s is well-formed IMAP modified UTF-7 (RFC 3501 5.1.3): printable
// US-ASCII, "&-" for "&", and "&...-" runs of modified base64 holding UTF-16
// (surrogates paired, no printable ASCII inside, unused bits zero). On false,
// *why (when given) says what is wrong.
bool modified_utf7_valid(std::string_view s, std::string* why = nullptr);

}  // namespace tern
