// config.hpp - main.cf: parser, $name expansion and typed getters.
// Called by every daemon and tool at start-up; values come from the
// administrator (trusted) but every error still names file:line and a reason.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/params.hpp"

namespace tern {

struct config_error {
    std::string file;
    int line = 0;
    std::string reason;
    std::string str() const;
};

class config {
public:
    // Read DIR/main.cf. Syntax errors and bad values of known parameters are
    // appended to errors; unknown names to unknown (name, file:line).
    bool load(const std::string& config_dir, std::vector<config_error>& errors);
    // Parse main.cf text (for tests and `tern check`).
    void parse(std::string_view text, const std::string& file, std::vector<config_error>& errors);

    // An explicit setting (main.cf line or -o override); overrides win.
    void set(const std::string& name, const std::string& value, const std::string& origin = "-o");
    // Check every explicit value of a known parameter; errors name their origin.
    void validate(std::vector<config_error>& errors) const;
    // Explicit names that are not in the parameter table and that no other value refers to.
    std::vector<config_error> unknown_names() const;

    bool is_set(std::string_view name) const;
    // Unexpanded value: explicit, else default. nullopt for an unknown name that is not set.
    std::optional<std::string> raw(std::string_view name) const;
    // Expanded values. Unknown names expand to "".
    std::string get(std::string_view name) const;
    bool get_bool(std::string_view name) const;
    int64_t get_int(std::string_view name) const;
    int64_t get_time(std::string_view name) const;   // seconds
    uint64_t get_size(std::string_view name) const;  // bytes
    std::vector<std::string> get_list(std::string_view name) const;

    // Expand $name, ${name}, $(name), ${name?text}, ${name:text} and $$.
    std::string expand(std::string_view value) const;

    const std::string& config_dir() const { return _config_dir; }
    // Explicit settings in file order, for `tern config -n`.
    std::vector<std::string> explicit_names() const;

private:
    struct entry {
        std::string value;
        std::string origin;  // "main.cf:12" or "-o"
    };
    std::string expand_depth(std::string_view value, int depth, size_t& budget) const;
    std::string dynamic_default(std::string_view name) const;
    std::map<std::string, entry, std::less<>> _values;
    std::vector<std::string> _order;
    std::string _config_dir;
};

// Typed parsing of one value; error text on failure (used by validate and tests).
std::optional<bool> parse_bool(std::string_view v);
// Time with unit s, m, h, d, w (bare number uses default_unit); seconds.
std::optional<int64_t> parse_time(std::string_view v, char default_unit = 's');
// Size in bytes with optional k, m, g suffix (powers of 1024).
std::optional<uint64_t> parse_size(std::string_view v);

// The system host name, fully qualified when the resolver configuration knows it.
std::string system_hostname();

}  // namespace tern
