// aliases.hpp - aliases(5) files: "name: value, value, ..." with
// continuation lines and '#' comments; values are addresses, /file/paths,
// |commands and :include:/paths, double-quoted when they hold white space
// or commas. The parser, the builder of the hash/btree database used by
// newaliases (key: lower-cased name, value: the normalised value list) and
// parse_alias_values() that local delivery applies to a looked-up value.
// SECURITY: alias files are administrator input but they choose commands
// and files that local delivery runs or writes as root's delegate; parsing
// is strict and every error names file:line.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/map_source.hpp"

namespace tern {

enum class alias_kind { address, file, command, include };
const char* alias_kind_name(alias_kind k);

struct alias_target {
    alias_kind kind = alias_kind::address;
    // address: as written (quotes only where RFC 5322 keeps them, e.g.
    // "joe smith"@example.com); file: the path; command: the text after
    // '|'; include: the path after ":include:".
    std::string text;
    bool operator==(const alias_target&) const = default;
};

// Split a value list on commas outside double quotes and classify each
// element. Empty elements are skipped. On a syntax error the result is
// empty and *error (when given) says why.
std::vector<alias_target> parse_alias_values(std::string_view values, std::string* error = nullptr);
// The normalised, re-parseable form: elements joined with ", ", quoted
// (with \" and \\ escapes) where they hold white space, commas or quotes.
std::string format_alias_values(const std::vector<alias_target>& targets);

struct alias_entry {
    std::string name;                   // as written, without quotes
    std::string key;                    // lower-cased name: the database key
    std::string value;                  // format_alias_values(targets)
    std::vector<alias_target> targets;
    int line = 0;
};

// Incremental aliases(5) parser: feed bytes in any pieces.
class alias_parser : public source_parser {
public:
    using entry_sink = std::function<void(alias_entry&&)>;
    alias_parser(std::string file, const map_limits& limits, entry_sink sink, std::vector<config_error>& errors);
    void feed(std::string_view bytes) override { _reader.feed(bytes); }
    void finish() override { _reader.finish(); }

private:
    void line(int lineno, std::string_view text);
    entry_sink _sink;
    std::vector<config_error>& _errors;
    line_reader _reader;
};

// Whole-text convenience for tests and `tern check`.
std::vector<alias_entry> parse_aliases(std::string_view text, const std::string& file, const map_limits& limits,
                                       std::vector<config_error>& errors);

// newaliases: build the database for one alias_database element ("hash:/etc/tern/aliases",
// or a bare path with default_type). Only hash: and btree: can be built.
bool build_alias_table(std::string_view spec, const std::string& default_type, const map_limits& limits,
                       std::vector<config_error>& errors, build_report& report);

}  // namespace tern
