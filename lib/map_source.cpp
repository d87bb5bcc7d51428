// map_source.cpp - see map_source.hpp.
#include "lib/map_source.hpp"

#include <cctype>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fd.hpp"
#include "lib/strutil.hpp"

namespace tern {

map_limits map_limits::from_config(const config& cfg) {
    map_limits l;
    l.line_length = static_cast<size_t>(cfg.get_size("table_line_length_limit"));
    l.entries = static_cast<size_t>(cfg.get_int("table_entry_limit"));
    l.regexps = static_cast<size_t>(cfg.get_int("regexp_table_limit"));
    return l;
}

// ---- line_reader -------------------------------------------------------------

line_reader::line_reader(std::string file, size_t max_length, sink on_line, std::vector<config_error>& errors) :
    _file(std::move(file)), _max(max_length), _sink(std::move(on_line)), _errors(errors) {}

void line_reader::feed(std::string_view bytes) {
    while (!bytes.empty()) {
        size_t nl = bytes.find('\n');
        std::string_view part = bytes.substr(0, nl);
        // keep at most _max + 1 bytes (room for a CR): enough to know the
        // kind of an over-long line without holding all of it
        size_t room = _max + 1 > _phys.size() ? _max + 1 - _phys.size() : 0;
        if (part.size() > room) {
            _phys.append(part.substr(0, room));
            _phys_too_long = true;
        } else {
            _phys.append(part);
        }
        if (nl == std::string_view::npos) return;
        ++_lineno;
        physical(_phys);
        _phys.clear();
        _phys_too_long = false;
        bytes.remove_prefix(nl + 1);
    }
}

void line_reader::finish() {
    if (!_phys.empty() || _phys_too_long) {
        ++_lineno;
        physical(_phys);
        _phys.clear();
        _phys_too_long = false;
    }
    flush();
}

void line_reader::physical(std::string_view line) {
    bool too_long = _phys_too_long;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > _max) too_long = true;
    std::string_view t = trim(line);
    if (t.empty() || t[0] == '#') {
        if (too_long)  // an over-long comment is still over-long input
            _errors.push_back({_file, _lineno, "line longer than " + std::to_string(_max) +
                                                   " bytes (table_line_length_limit)"});
        return;
    }
    std::string bad;
    if (too_long)
        bad = "line longer than " + std::to_string(_max) + " bytes (table_line_length_limit)";
    else if (line.find('\0') != std::string_view::npos)
        bad = "NUL byte in line";
    bool continuation = std::isspace(static_cast<unsigned char>(line[0])) != 0;
    if (continuation) {
        if (_logical_line == 0) {
            _errors.push_back({_file, _lineno, bad.empty() ? "continuation line without an entry before it" : bad});
            return;
        }
        if (!bad.empty()) {
            _errors.push_back({_file, _lineno, bad});
            _logical_bad = true;
            return;
        }
        if (_logical_bad) return;
        if (_logical.size() + 1 + t.size() > _max) {
            _errors.push_back({_file, _logical_line, "logical line longer than " + std::to_string(_max) +
                                                         " bytes (table_line_length_limit)"});
            _logical_bad = true;
            _logical.clear();
            return;
        }
        _logical += ' ';
        _logical += t;
        return;
    }
    flush();
    _logical_line = _lineno;
    if (!bad.empty()) {
        _errors.push_back({_file, _lineno, bad});
        _logical_bad = true;
        return;
    }
    _logical.assign(t);
}

void line_reader::flush() {
    if (_logical_line != 0 && !_logical_bad) _sink(_logical_line, _logical);
    _logical.clear();
    _logical_line = 0;
    _logical_bad = false;
}

// ---- table_source_parser ---------------------------------------------------------

table_source_parser::table_source_parser(std::string file, const map_limits& limits, bool fold_keys, pair_sink sink,
                                         std::vector<config_error>& errors) :
    _fold(fold_keys),
    _sink(std::move(sink)),
    _errors(errors),
    _reader(std::move(file), limits.line_length, [this](int n, std::string_view t) { line(n, t); }, errors) {}

void table_source_parser::line(int lineno, std::string_view text) {
    size_t sp = 0;
    while (sp < text.size() && !std::isspace(static_cast<unsigned char>(text[sp]))) ++sp;
    std::string_view key = text.substr(0, sp);
    std::string_view value = trim(text.substr(sp));
    if (value.empty()) {
        _errors.push_back({_reader.file(), lineno,
                           "expected format: key whitespace value, got \"" + printable(text, 60) + "\""});
        return;
    }
    _sink(lineno, _fold ? to_lower(key) : std::string(key), std::string(value));
}

// ---- files -------------------------------------------------------------------

static bool read_fd_pieces(int fd, const std::string& path, const std::function<void(std::string_view)>& feed,
                           std::string& err) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = "read " + path + ": " + errno_text();
            return false;
        }
        if (n == 0) return true;
        feed(std::string_view(buf, static_cast<size_t>(n)));
    }
}

static unique_fd open_source(const std::string& path, std::string& err, struct stat& st) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        err = "open " + path + ": " + errno_text();
        return {};
    }
    if (::fstat(fd.get(), &st) != 0) {
        err = "fstat " + path + ": " + errno_text();
        return {};
    }
    if (S_ISDIR(st.st_mode)) {
        err = path + ": is a directory";
        return {};
    }
    return fd;
}

bool read_file_pieces(const std::string& path, const std::function<void(std::string_view)>& feed, std::string& err,
                      db::file_stamp* stamp) {
    struct stat st;
    unique_fd fd = open_source(path, err, st);
    if (!fd) return false;
    if (stamp) {
        auto s = db::stamp_of_fd(fd.get());
        if (!s) {
            err = "fstat " + path + ": " + errno_text();
            return false;
        }
        *stamp = *s;
    }
    return read_fd_pieces(fd.get(), path, feed, err);
}

bool build_db_from_source(const std::string& source, db::db_type type, const parser_factory& make_parser,
                          std::vector<config_error>& errors, build_report& report) {
    std::string err;
    struct stat st;
    unique_fd fd = open_source(source, err, st);
    if (!fd) {
        errors.push_back({source, 0, err});
        return false;
    }
    bool root = ::geteuid() == 0;
    auto b = db::builder::start(source + ".db", type, st.st_mode & 0666, err,
                                root ? st.st_uid : static_cast<uid_t>(-1), root ? st.st_gid : static_cast<gid_t>(-1));
    if (!b) {
        errors.push_back({source + ".db", 0, err});
        return false;
    }
    size_t before = errors.size();
    bool write_failed = false;
    report.entries = 0;
    auto parser = make_parser(
        source,
        [&](int line, const std::string& key, const std::string& value) {
            if (write_failed) return;
            bool dup = false;
            std::string perr;
            if (!b->put(key, value, perr, &dup)) {
                errors.push_back({b->target(), 0, perr});
                write_failed = true;
                return;
            }
            if (dup)
                report.warnings.push_back(
                    {source, line, "duplicate entry \"" + printable(key, 60) + "\" ignored (the first one wins)"});
            else
                ++report.entries;
        },
        errors);
    if (!read_fd_pieces(fd.get(), source, [&](std::string_view piece) { parser->feed(piece); }, err)) {
        errors.push_back({source, 0, err});
        return false;
    }
    parser->finish();
    if (errors.size() != before) return false;  // the builder removes its file
    if (!b->commit(err)) {
        errors.push_back({source + ".db", 0, err});
        return false;
    }
    return true;
}

}  // namespace tern
