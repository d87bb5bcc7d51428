// maps.cpp - see maps.hpp. The dispatcher, the reopen-on-change logic shared
// by every file-backed table, and the simple types: hash:, btree:,
// texthash:, inline:, static:, fail:. cidr: and regexp: live in
// lib/cidr.cpp and lib/map_regexp.cpp.
#include "lib/maps.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <map>
#include <mutex>
#include <set>

#include "lib/log.hpp"
#include "lib/map_types.hpp"
#include "lib/privs.hpp"
#include "lib/strutil.hpp"

namespace tern {

map_options map_options::from_config(const config& cfg) {
    map_options o;
    static_cast<map_limits&>(o) = map_limits::from_config(cfg);
    return o;
}

// ---- lookup_table --------------------------------------------------------------

namespace {
// Every live table, for table_changed_behind_jail().
std::mutex g_tables_mu;
std::set<const lookup_table*>& live_tables() {
    static std::set<const lookup_table*> s;
    return s;
}
}  // namespace

lookup_table::lookup_table(std::string type, std::string name, const map_options& opts) :
    _type(std::move(type)), _name(std::move(name)), _opts(opts) {
    std::lock_guard<std::mutex> g(g_tables_mu);
    live_tables().insert(this);
}

lookup_table::~lookup_table() {
    std::lock_guard<std::mutex> g(g_tables_mu);
    live_tables().erase(this);
}

bool lookup_table::changed_behind_jail() const {
    if (!_watch_fd) return false;
    struct stat st;
    if (::fstat(_watch_fd.get(), &st) != 0) return false;
    if (st.st_nlink == 0) return true;  // replaced by a rename, or deleted
    auto now = db::stamp_of_fd(_watch_fd.get());
    return now && !(*now == _stamp);
}

std::string table_changed_behind_jail() {
    if (!in_chroot()) return {};
    std::lock_guard<std::mutex> g(g_tables_mu);
    for (auto* t : live_tables())
        if (t->changed_behind_jail()) return t->spec();
    return {};
}

bool lookup_table::load(std::vector<config_error>&, db::file_stamp&) { return true; }

bool lookup_table::list(const visitor&, std::string& err) {
    err = spec() + ": table type " + _type + " cannot be listed";
    return false;
}

bool lookup_table::open(std::vector<config_error>& errors) {
    if (_watch.empty()) return true;
    return reload(errors);
}

bool lookup_table::reload(std::vector<config_error>& errors) {
    size_t before = errors.size();
    db::file_stamp stamp;
    _last_check = std::chrono::steady_clock::now();
    if (load(errors, stamp)) {
        _stamp = stamp;
        _load_error.clear();
        // keep the file open for changed_behind_jail(); only the same file counts
        _watch_fd.reset(::open(_watch.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
        if (_watch_fd) {
            auto st = db::stamp_of_fd(_watch_fd.get());
            if (!st || st->dev != stamp.dev || st->ino != stamp.ino) _watch_fd.reset();
        }
        return true;
    }
    if (errors.size() == before) errors.push_back({_watch, 0, "cannot load table"});
    _load_error = spec() + ": " + errors[before].str();
    if (errors.size() - before > 1) _load_error += " (and " + std::to_string(errors.size() - before - 1) + " more)";
    return false;
}

void lookup_table::refresh() {
    if (_watch.empty()) return;
    // A chrooted daemon cannot see the file any more: it keeps what it loaded
    // before the jail (a changed table takes a `tern reload`), rather than
    // taking the missing path for a deleted table.
    if (in_chroot()) return;
    auto now = std::chrono::steady_clock::now();
    if (now - _last_check < _opts.check_interval) return;
    _last_check = now;
    auto stamp = db::stamp_of_path(_watch);
    if (_load_error.empty() && stamp && *stamp == _stamp) return;
    // changed, gone, or still broken: read it again
    std::string old_error = _load_error;
    std::vector<config_error> errors;
    if (reload(errors)) {
        if (!old_error.empty())
            log::info("table %s: recovered", spec().c_str());
        else
            log::info("table %s: changed, reopened", spec().c_str());
    } else if (_load_error != old_error) {
        for (const auto& e : errors) log::error("table %s: %s", spec().c_str(), e.str().c_str());
    }
}

lookup_result lookup_table::lookup(std::string_view key) {
    refresh();
    if (!_load_error.empty()) return lookup_result::fail(_load_error);
    return find(key);
}

bool lookup_table::for_each(const visitor& fn, std::string& err) {
    refresh();
    if (!_load_error.empty()) {
        err = _load_error;
        return false;
    }
    return list(fn, err);
}

// ---- memory_entries ----------------------------------------------------------------

namespace detail {

bool memory_entries::add(std::string key, std::string value) {
    if (_index.count(key)) return false;
    _index.emplace(key, _entries.size());
    _entries.emplace_back(std::move(key), std::move(value));
    return true;
}

const std::string* memory_entries::find(std::string_view folded_key) const {
    auto it = _index.find(std::string(folded_key));
    return it == _index.end() ? nullptr : &_entries[it->second].second;
}

}  // namespace detail

namespace {

// ---- hash: and btree: --------------------------------------------------------------

class db_table : public lookup_table {
public:
    db_table(std::string type, std::string name, const map_options& opts, db::db_type t) :
        lookup_table(std::move(type), std::move(name), opts), _db_type(t) {
        watch_file(this->name() + ".db");
    }

protected:
    bool load(std::vector<config_error>& errors, db::file_stamp& stamp) override {
        std::string err;
        auto h = db::open_read(name() + ".db", _db_type, err, &stamp);
        if (!h) {
            errors.push_back({"", 0, err});
            return false;
        }
        _h = std::move(h);
        return true;
    }
    lookup_result find(std::string_view key) override {
        if (key.empty()) return lookup_result::miss();
        std::string value, err;
        switch (_h.get(to_lower(key), value, err)) {
        case db::status::found:
            return lookup_result::hit(std::move(value));
        case db::status::not_found:
            return lookup_result::miss();
        case db::status::error:
            break;
        }
        return lookup_result::fail(spec() + ": " + err);
    }
    bool list(const visitor& fn, std::string& err) override { return _h.for_each(fn, err); }

private:
    db::db_type _db_type;
    db::handle _h;
};

// ---- texthash: -----------------------------------------------------------------------

class text_table : public lookup_table {
public:
    text_table(std::string name, const map_options& opts) : lookup_table("texthash", std::move(name), opts) {
        watch_file(this->name());
    }

protected:
    bool load(std::vector<config_error>& errors, db::file_stamp& stamp) override {
        size_t before = errors.size();
        detail::memory_entries fresh;
        size_t limit = options().entries;
        bool full = false;
        table_source_parser parser(
            name(), options(), true,
            [&](int line, const std::string& key, const std::string& value) {
                if (full) return;
                if (fresh.size() >= limit) {
                    errors.push_back({name(), line, "more than " + std::to_string(limit) +
                                                        " entries (table_entry_limit)"});
                    full = true;
                    return;
                }
                if (!fresh.add(key, value))
                    log::warn("%s:%d: duplicate entry \"%s\" ignored (the first one wins)", name().c_str(), line,
                              printable(key, 60).c_str());
            },
            errors);
        std::string err;
        if (!read_file_pieces(name(), [&](std::string_view p) { parser.feed(p); }, err, &stamp)) {
            errors.push_back({"", 0, err});
            return false;
        }
        parser.finish();
        if (errors.size() != before) return false;
        _entries.swap(fresh);
        return true;
    }
    lookup_result find(std::string_view key) override {
        if (key.empty()) return lookup_result::miss();
        if (auto v = _entries.find(to_lower(key))) return lookup_result::hit(*v);
        return lookup_result::miss();
    }
    bool list(const visitor& fn, std::string&) override {
        for (const auto& [k, v] : _entries.entries())
            if (!fn(k, v)) break;
        return true;
    }

private:
    detail::memory_entries _entries;
};

// ---- inline:{ k=v, ... } ---------------------------------------------------------

// "{ text }" -> "text"; nullopt when not enclosed in braces.
std::optional<std::string_view> unbrace(std::string_view s) {
    s = trim(s);
    if (s.size() < 2 || s.front() != '{' || s.back() != '}') return std::nullopt;
    return trim(s.substr(1, s.size() - 2));
}

class inline_table : public lookup_table {
public:
    inline_table(std::string name, const map_options& opts) : lookup_table("inline", std::move(name), opts) {}

    bool parse(std::vector<config_error>& errors) {
        auto body = unbrace(name());
        if (!body) {
            errors.push_back({spec(), 0, "expected inline:{ key=value, ... }"});
            return false;
        }
        for (const auto& element : split_table_list(*body)) {
            std::string_view e = element;
            if (auto inner = unbrace(e)) e = *inner;  // { key = text with spaces }
            auto eq = e.find('=');
            if (eq == std::string_view::npos) {
                errors.push_back({spec(), 0, "missing '=' in \"" + printable(e, 60) +
                                                 "\" (write { key = value } for text with spaces)"});
                return false;
            }
            auto key = trim(e.substr(0, eq));
            if (key.empty()) {
                errors.push_back({spec(), 0, "empty key in \"" + printable(e, 60) + "\""});
                return false;
            }
            if (_entries.size() >= options().entries) {
                errors.push_back({spec(), 0, "more than " + std::to_string(options().entries) +
                                                 " entries (table_entry_limit)"});
                return false;
            }
            _entries.add(to_lower(key), std::string(trim(e.substr(eq + 1))));
        }
        return true;
    }

protected:
    lookup_result find(std::string_view key) override {
        if (key.empty()) return lookup_result::miss();
        if (auto v = _entries.find(to_lower(key))) return lookup_result::hit(*v);
        return lookup_result::miss();
    }
    bool list(const visitor& fn, std::string&) override {
        for (const auto& [k, v] : _entries.entries())
            if (!fn(k, v)) break;
        return true;
    }

private:
    detail::memory_entries _entries;
};

// ---- static: and fail: -------------------------------------------------------------

class static_table : public lookup_table {
public:
    static_table(std::string name, const map_options& opts) : lookup_table("static", std::move(name), opts) {
        auto b = unbrace(this->name());
        _value = b ? std::string(*b) : this->name();
    }

protected:
    lookup_result find(std::string_view) override { return lookup_result::hit(_value); }

private:
    std::string _value;
};

class fail_table : public lookup_table {
public:
    fail_table(std::string name, const map_options& opts) : lookup_table("fail", std::move(name), opts) {}

protected:
    lookup_result find(std::string_view) override { return lookup_result::fail(spec() + ": table lookup failed"); }
};

// ---- registry ------------------------------------------------------------------------

template <class T>
std::unique_ptr<lookup_table> opened(std::unique_ptr<T> t, std::vector<config_error>& errors) {
    t->open(errors);
    return t;
}

std::map<std::string, table_factory, std::less<>>& registry() {
    static std::map<std::string, table_factory, std::less<>> r = [] {
        std::map<std::string, table_factory, std::less<>> m;
        m["hash"] = [](const std::string& n, const map_options& o, std::vector<config_error>& e) {
            return opened(std::make_unique<db_table>("hash", n, o, db::db_type::hash), e);
        };
        m["btree"] = [](const std::string& n, const map_options& o, std::vector<config_error>& e) {
            return opened(std::make_unique<db_table>("btree", n, o, db::db_type::btree), e);
        };
        m["texthash"] = [](const std::string& n, const map_options& o, std::vector<config_error>& e) {
            return opened(std::make_unique<text_table>(n, o), e);
        };
        m["inline"] = [](const std::string& n, const map_options& o,
                         std::vector<config_error>& e) -> std::unique_ptr<lookup_table> {
            auto t = std::make_unique<inline_table>(n, o);
            if (!t->parse(e)) return nullptr;  // a syntax error in main.cf itself
            return t;
        };
        m["static"] = [](const std::string& n, const map_options& o, std::vector<config_error>&) {
            return std::unique_ptr<lookup_table>(std::make_unique<static_table>(n, o));
        };
        m["fail"] = [](const std::string& n, const map_options& o, std::vector<config_error>&) {
            return std::unique_ptr<lookup_table>(std::make_unique<fail_table>(n, o));
        };
        m["cidr"] = detail::make_cidr_table;
        m["regexp"] = detail::make_regexp_table;
        return m;
    }();
    return r;
}

}  // namespace

void register_table_type(const std::string& type, table_factory factory) { registry()[type] = std::move(factory); }

std::optional<table_spec> parse_table_spec(std::string_view spec) {
    auto colon = spec.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 >= spec.size()) return std::nullopt;
    auto type = spec.substr(0, colon);
    if (!(type[0] >= 'a' && type[0] <= 'z')) return std::nullopt;
    for (char c : type)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return std::nullopt;
    return table_spec{std::string(type), std::string(spec.substr(colon + 1))};
}

std::unique_ptr<lookup_table> open_table(std::string_view spec, const map_options& opts,
                                         std::vector<config_error>& errors) {
    auto s = parse_table_spec(spec);
    if (!s) {
        errors.push_back({"", 0, "\"" + printable(spec, 80) + "\": expected type:name"});
        return nullptr;
    }
    auto& r = registry();
    auto it = r.find(s->type);
    if (it == r.end()) {
        std::string known;
        for (const auto& [name, f] : r) known += (known.empty() ? "" : ", ") + name;
        errors.push_back({"", 0, "\"" + printable(spec, 80) + "\": unsupported table type \"" + s->type +
                                     "\" (known: " + known + ")"});
        return nullptr;
    }
    return it->second(s->name, opts, errors);
}

std::vector<std::string> split_table_list(std::string_view list) {
    std::vector<std::string> out;
    auto sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && sep(list[i])) ++i;
        size_t start = i;
        int depth = 0;
        while (i < list.size() && (depth > 0 || !sep(list[i]))) {
            if (list[i] == '{') ++depth;
            else if (list[i] == '}' && depth > 0) --depth;
            ++i;
        }
        if (i > start) out.emplace_back(list.substr(start, i - start));
    }
    return out;
}

bool build_table(std::string_view spec, const std::string& default_type, const map_options& opts,
                 std::vector<config_error>& errors, build_report& report) {
    table_spec s;
    if (auto p = parse_table_spec(spec)) s = *p;
    else s = {default_type, std::string(spec)};
    if (auto t = db::parse_db_type(s.type)) {
        map_limits limits = opts;
        return build_db_from_source(
            s.name, *t,
            [&](const std::string& file, pair_sink sink, std::vector<config_error>& errs) {
                return std::make_unique<table_source_parser>(file, limits, true, std::move(sink), errs);
            },
            errors, report);
    }
    if (s.type == "texthash" || s.type == "cidr" || s.type == "regexp") {
        size_t before = errors.size();
        auto t = open_table(s.type + ":" + s.name, opts, errors);
        if (!t || errors.size() != before) return false;
        report.entries = 0;
        std::string err;
        t->for_each(
            [&](std::string_view, std::string_view) {
                ++report.entries;
                return true;
            },
            err);
        return true;
    }
    errors.push_back({"", 0, "\"" + printable(spec, 80) + "\": table type " + s.type + " has no source file to build"});
    return false;
}

// ---- map_list -----------------------------------------------------------------------

std::optional<map_list> map_list::parse(std::string_view list, const map_options& opts,
                                        std::vector<config_error>& errors) {
    map_list out;
    for (const auto& element : split_table_list(list)) {
        auto t = open_table(element, opts, errors);
        if (!t) return std::nullopt;
        out._tables.push_back(std::move(t));
    }
    return out;
}

lookup_result map_list::lookup(std::string_view key) {
    for (auto& t : _tables) {
        auto r = t->lookup(key);
        if (!r.missing()) return r;  // a hit, or an error before any hit
    }
    return lookup_result::miss();
}

}  // namespace tern
