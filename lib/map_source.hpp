// map_source.hpp - reading table source files: Postfix-style logical lines
// fed in pieces, the postmap "key value" format, and building a Berkeley
// DB table from a source file. Used by lib/maps (texthash:, cidr:,
// regexp:, inline builds), lib/aliases, tern-map and newaliases.
// SECURITY: table files come from the administrator, but every reader is
// bounded (line length, entry count) and reports file:line errors.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"
#include "lib/db.hpp"

namespace tern {

// Limits for table files; main.cf parameters in lib/params_core.cpp.
struct map_limits {
    size_t line_length = 65536;  // table_line_length_limit: one logical line, in bytes
    size_t entries = 100000;     // table_entry_limit: entries of an in-memory table
    size_t regexps = 1000;       // regexp_table_limit: patterns of one regexp: table
    static map_limits from_config(const config& cfg);
};

// Splits a byte stream into logical lines: a line starting with white space
// continues the previous one (joined with one space), lines whose first
// non-blank character is '#' and blank lines are skipped (also inside a
// continuation), CRLF is accepted. The sink gets the number of the logical
// line's first physical line and its text without surrounding white space.
// Bytes may be fed in any pieces; the result does not depend on the split.
class line_reader {
public:
    using sink = std::function<void(int line, std::string_view text)>;
    line_reader(std::string file, size_t max_length, sink on_line, std::vector<config_error>& errors);
    void feed(std::string_view bytes);
    void finish();  // end of input: emits the last logical line
    const std::string& file() const { return _file; }

private:
    void physical(std::string_view line);
    void flush();
    std::string _file;
    size_t _max;
    sink _sink;
    std::vector<config_error>& _errors;
    std::string _phys;          // current physical line (bounded by _max)
    bool _phys_too_long = false;
    int _lineno = 0;            // physical lines completed
    std::string _logical;
    int _logical_line = 0;
    bool _logical_bad = false;  // drop this logical line (already reported)
};

// A parser of some source format, fed bytes in pieces.
class source_parser {
public:
    virtual ~source_parser() = default;
    virtual void feed(std::string_view bytes) = 0;
    virtual void finish() = 0;
};

// Receives the pairs a source file defines, with the line they start on.
using pair_sink = std::function<void(int line, const std::string& key, const std::string& value)>;

// postmap format: "key value" per logical line; the key is the first
// white-space-delimited token, the value the rest. Keys are folded to lower
// case when fold_keys is set (as postmap without -f).
class table_source_parser : public source_parser {
public:
    table_source_parser(std::string file, const map_limits& limits, bool fold_keys, pair_sink sink,
                        std::vector<config_error>& errors);
    void feed(std::string_view bytes) override { _reader.feed(bytes); }
    void finish() override { _reader.finish(); }

private:
    void line(int lineno, std::string_view text);
    bool _fold;
    pair_sink _sink;
    std::vector<config_error>& _errors;
    line_reader _reader;
};

// Read a file in pieces into feed(). The stamp of the file that was read
// (fstat of the same descriptor) goes to *stamp. False with err on failure.
bool read_file_pieces(const std::string& path, const std::function<void(std::string_view)>& feed, std::string& err,
                      db::file_stamp* stamp = nullptr);

struct build_report {
    size_t entries = 0;                   // pairs written
    std::vector<config_error> warnings;   // duplicate keys and the like
};

// Build SOURCE.db (type hash or btree) from the text file SOURCE with the
// parser that make_parser returns. Nothing is installed when the source has
// any error: the old table stays in place. The new file gets the source's
// permission bits (without execute) and, when run by root, its owner.
using parser_factory = std::function<std::unique_ptr<source_parser>(const std::string& file, pair_sink sink,
                                                                    std::vector<config_error>& errors)>;
bool build_db_from_source(const std::string& source, db::db_type type, const parser_factory& make_parser,
                          std::vector<config_error>& errors, build_report& report);

}  // namespace tern
