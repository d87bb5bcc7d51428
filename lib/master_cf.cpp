// master_cf.cpp - see master_cf.hpp. Logical lines as in main.cf.
#include "lib/master_cf.hpp"

#include <cctype>

#include "lib/fd.hpp"
#include "lib/strutil.hpp"

namespace tern {

std::string service_entry::host() const {
    if (type != "inet") return "";
    auto c = name.rfind(':');
    if (c == std::string::npos) return "";
    std::string h = name.substr(0, c);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    return h;
}

std::string service_entry::port() const {
    if (type != "inet") return "";
    auto c = name.rfind(':');
    return c == std::string::npos ? name : name.substr(c + 1);
}

static bool parse_flag(const std::string& f, bool dflt, bool& out) {
    if (f == "-") { out = dflt; return true; }
    if (f == "y") { out = true; return true; }
    if (f == "n") { out = false; return true; }
    return false;
}

static bool parse_count(const std::string& f, int& out, bool allow_q) {
    std::string v = f;
    if (v == "-") { out = 0; return true; }
    if (allow_q && !v.empty() && v.back() == '?') v.pop_back();
    auto n = parse_u64(v);
    if (!n || *n > 100000) return false;
    out = static_cast<int>(*n);
    return true;
}

static void parse_logical(const std::string& text, int lineno, const std::string& file,
                          std::vector<service_entry>& out, std::vector<config_error>& errors) {
    auto f = split_any(text, " \t");
    auto fail = [&](const std::string& why) { errors.push_back({file, lineno, why}); };
    if (f.size() < 8) {
        fail("expected 8 or more fields (service type private unpriv chroot wakeup maxproc command), got " +
             std::to_string(f.size()));
        return;
    }
    service_entry s;
    s.file = file;
    s.line = lineno;
    s.name = f[0];
    s.type = f[1];
    if (s.type != "inet" && s.type != "unix") {
        fail("service " + s.name + ": unsupported type \"" + s.type + "\" (inet or unix)");
        return;
    }
    if (s.type == "inet") {
        auto p = s.port();
        auto n = parse_u64(p);
        bool named = !p.empty() && std::isalpha(static_cast<unsigned char>(p[0]));
        if (!named && (!n || *n == 0 || *n > 65535)) {
            fail("service " + s.name + ": bad port \"" + printable(p, 40) + "\"");
            return;
        }
    } else {
        for (char c : s.name)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
                fail("bad unix service name \"" + printable(s.name, 40) + "\"");
                return;
            }
    }
    if (!parse_flag(f[2], true, s.private_)) return fail("service " + s.name + ": private must be y, n or -");
    if (!parse_flag(f[3], true, s.unpriv)) return fail("service " + s.name + ": unpriv must be y, n or -");
    if (!parse_flag(f[4], false, s.chroot)) return fail("service " + s.name + ": chroot must be y, n or -");
    if (!parse_count(f[5], s.wakeup, true)) return fail("service " + s.name + ": wakeup must be - or a number of seconds");
    if (!parse_count(f[6], s.maxproc, false)) return fail("service " + s.name + ": maxproc must be - or a number");
    s.command = f[7];
    if (s.command.find('/') != std::string::npos)
        return fail("service " + s.name + ": command must be a program name in daemon_directory, not a path");
    for (size_t i = 8; i < f.size(); ++i) {
        const std::string& a = f[i];
        std::string ov;
        if (a == "-o") {
            if (i + 1 >= f.size()) return fail("service " + s.name + ": -o without name=value");
            ov = f[++i];
        } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
            ov = a.substr(2);
        } else {
            s.args.push_back(a);
            continue;
        }
        auto eq = ov.find('=');
        if (eq == std::string::npos || eq == 0)
            return fail("service " + s.name + ": -o " + printable(ov, 60) + ": expected name=value");
        s.overrides.emplace_back(ov.substr(0, eq), ov.substr(eq + 1));
    }
    for (const auto& other : out)
        if (other.name == s.name && other.type == s.type)
            return fail("duplicate service " + s.name + "/" + s.type + " (first at line " + std::to_string(other.line) + ")");
    out.push_back(std::move(s));
}

std::vector<service_entry> parse_master_cf(std::string_view text, const std::string& file,
                                           std::vector<config_error>& errors) {
    std::vector<service_entry> out;
    std::string logical;
    int logical_line = 0, lineno = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto t = trim(line);
        if (t.empty() || t[0] == '#') {
        } else if (std::isspace(static_cast<unsigned char>(line[0]))) {
            if (logical.empty())
                errors.push_back({file, lineno, "continuation line without a service before it"});
            else {
                logical += ' ';
                logical += t;
            }
        } else {
            if (!logical.empty()) parse_logical(logical, logical_line, file, out, errors);
            logical = std::string(t);
            logical_line = lineno;
        }
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    if (!logical.empty()) parse_logical(logical, logical_line, file, out, errors);
    return out;
}

bool load_master_cf(const std::string& config_dir, std::vector<service_entry>& out,
                    std::vector<config_error>& errors) {
    std::string path = config_dir + "/master.cf";
    auto text = read_file(path, 1u << 20);
    if (!text) {
        errors.push_back({path, 0, "cannot read: " + errno_text()});
        return false;
    }
    size_t before = errors.size();
    out = parse_master_cf(*text, path, errors);
    return errors.size() == before;
}

}  // namespace tern
