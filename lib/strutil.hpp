// strutil.hpp - small string helpers shared by every parser in tern.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern {

std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);
std::string to_upper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

// Split on any of the separator characters, dropping empty pieces.
std::vector<std::string> split_any(std::string_view s, std::string_view seps);
// Postfix list syntax: commas and white space separate elements.
inline std::vector<std::string> split_list(std::string_view s) { return split_any(s, ", \t\r\n"); }
// Split on one character, keeping empty pieces.
std::vector<std::string> split_char(std::string_view s, char sep);

std::optional<uint64_t> parse_u64(std::string_view s);
std::optional<int64_t> parse_i64(std::string_view s);

std::string join(const std::vector<std::string>& v, std::string_view sep);

// Printable form of untrusted bytes for logs and error replies.
std::string printable(std::string_view s, size_t max = 200);

// xtext (RFC 3461) encode/decode.
std::string xtext_encode(std::string_view s);
std::optional<std::string> xtext_decode(std::string_view s);

// base64 (RFC 4648); decode ignores white space and fails on other junk.
std::string base64_encode(std::string_view s);
std::optional<std::string> base64_decode(std::string_view s);

}  // namespace tern
