// maps.hpp - lookup tables named "type:name" behind one dispatcher, and
// map_list for Postfix list parameters (alias_maps = hash:/a, texthash:/b).
// Types: hash: btree: (Berkeley DB NAME.db built from NAME), texthash:,
// cidr:, regexp:, inline:{k=v, ...}, static:value, fail:reason, plus types
// other modules register (auth's passwd:). Used by every daemon that looks
// something up (aliases, virtual maps, access tables, mynetworks) and by
// tern-map and newaliases. See docs/maps.md for formats and decisions.
// SECURITY: lookup keys come from clients (addresses, host names); they
// are never interpreted beyond the table's own matching rules.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/fd.hpp"
#include "lib/map_source.hpp"

namespace tern {

enum class lookup_status { found, not_found, error };

// A table error (unreadable or broken file) is distinct from "not found":
// callers answer a temporary failure (451/4.3.0) rather than 550.
struct lookup_result {
    lookup_status status = lookup_status::not_found;
    std::string value;  // when found
    std::string error;  // when error: names the table and the reason
    bool found() const { return status == lookup_status::found; }
    bool missing() const { return status == lookup_status::not_found; }
    bool failed() const { return status == lookup_status::error; }
    static lookup_result hit(std::string v) { return {lookup_status::found, std::move(v), {}}; }
    static lookup_result miss() { return {}; }
    static lookup_result fail(std::string why) { return {lookup_status::error, {}, std::move(why)}; }
};

struct map_options : map_limits {
    // How often a file-backed table may stat its file to notice a rebuild.
    std::chrono::milliseconds check_interval{1000};
    static map_options from_config(const config& cfg);
};

// One open table. Not thread-safe: a daemon's event loop owns its tables.
class lookup_table {
public:
    using visitor = std::function<bool(std::string_view key, std::string_view value)>;
    virtual ~lookup_table();
    lookup_table(const lookup_table&) = delete;
    lookup_table& operator=(const lookup_table&) = delete;

    const std::string& type() const { return _type; }
    const std::string& name() const { return _name; }
    std::string spec() const { return _type + ":" + _name; }

    // Reopens a file-backed table whose file changed (checked at most once
    // per check_interval), then looks the key up.
    lookup_result lookup(std::string_view key);
    // Every entry in table order; fn returns false to stop. False with err
    // for a type that cannot be listed or a table in error.
    bool for_each(const visitor& fn, std::string& err);
    // Empty when the last load succeeded; else why the table answers errors.
    const std::string& load_error() const { return _load_error; }

    // Called once by the factory that made the table: first load of a
    // file-backed table. Errors name file:line.
    bool open(std::vector<config_error>& errors);

    // In a chroot the file cannot be reopened by path. The table keeps the
    // file it loaded open and says here whether it was replaced (newaliases,
    // tern-map rename a new file over it) or rewritten since; the daemon then
    // restarts to load the new one (lib/server.cpp).
    bool changed_behind_jail() const;

protected:
    lookup_table(std::string type, std::string name, const map_options& opts);
    const map_options& options() const { return _opts; }
    // A file-backed table names the file whose changes trigger load().
    void watch_file(std::string path) { _watch = std::move(path); }
    // (Re)read the table; on success set *stamp to what was read. On failure
    // the old contents stay unused: every lookup answers an error until a
    // later load succeeds.
    virtual bool load(std::vector<config_error>& errors, db::file_stamp& stamp);
    virtual lookup_result find(std::string_view key) = 0;
    virtual bool list(const visitor& fn, std::string& err);

private:
    void refresh();
    bool reload(std::vector<config_error>& errors);
    std::string _type;
    std::string _name;
    map_options _opts;
    std::string _watch;
    db::file_stamp _stamp;
    std::chrono::steady_clock::time_point _last_check{};
    std::string _load_error;
    unique_fd _watch_fd;  // the loaded file (see changed_behind_jail)
};

// Spec of a live table whose file changed behind the chroot (see
// lookup_table::changed_behind_jail), or empty. Any thread.
std::string table_changed_behind_jail();

using table_factory = std::function<std::unique_ptr<lookup_table>(
    const std::string& name, const map_options& opts, std::vector<config_error>& errors)>;
// Add a table type (e.g. auth registers passwd:). Replaces a type of that name.
void register_table_type(const std::string& type, table_factory factory);

// Open "type:name". nullptr (with an error) for a malformed spec or unknown
// type. A table whose file is missing or broken is still returned (its
// errors appended): it answers errors and recovers when the file is fixed.
std::unique_ptr<lookup_table> open_table(std::string_view spec, const map_options& opts,
                                         std::vector<config_error>& errors);

// Split "type:name" (type is [a-z][a-z0-9_-]*); nullopt when it is not one.
struct table_spec {
    std::string type;
    std::string name;
};
std::optional<table_spec> parse_table_spec(std::string_view spec);

// Postfix list syntax: elements separated by commas and white space;
// "{...}" groups (as in inline:{ a=1, b=2 }) stay one element.
std::vector<std::string> split_table_list(std::string_view list);

// tern-map's build: hash:/btree: write NAME.db from NAME atomically;
// texthash:, cidr: and regexp: are checked (read and parsed) only. A bare
// name uses default_type. Errors name file:line.
bool build_table(std::string_view spec, const std::string& default_type, const map_options& opts,
                 std::vector<config_error>& errors, build_report& report);

// Several tables searched in order: the first hit wins; an error in any
// table before a hit is an error.
class map_list {
public:
    map_list() = default;
    // nullopt when an element is malformed; table file problems are
    // appended to errors but do not fail the parse (lookups report them).
    static std::optional<map_list> parse(std::string_view list, const map_options& opts,
                                         std::vector<config_error>& errors);
    lookup_result lookup(std::string_view key);
    bool empty() const { return _tables.empty(); }
    size_t size() const { return _tables.size(); }
    const std::vector<std::shared_ptr<lookup_table>>& tables() const { return _tables; }
    void add(std::shared_ptr<lookup_table> t) { _tables.push_back(std::move(t)); }

private:
    std::vector<std::shared_ptr<lookup_table>> _tables;
};

}  // namespace tern
