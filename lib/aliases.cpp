// aliases.cpp - see aliases.hpp.
#include "lib/aliases.hpp"

#include <cctype>

#include "lib/maps.hpp"
#include "lib/strutil.hpp"

namespace tern {

const char* alias_kind_name(alias_kind k) {
    switch (k) {
    case alias_kind::address: return "address";
    case alias_kind::file: return "file";
    case alias_kind::command: return "command";
    case alias_kind::include: return "include";
    }
    return "?";
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

bool has_control(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

// The content of a fully quoted element "...", with \x escapes resolved;
// nullopt when the element is not one quoted string.
std::optional<std::string> unquote_whole(std::string_view e) {
    if (e.size() < 2 || e.front() != '"') return std::nullopt;
    std::string out;
    for (size_t i = 1; i < e.size(); ++i) {
        char c = e[i];
        if (c == '\\' && i + 1 < e.size()) {
            out += e[++i];
            continue;
        }
        if (c == '"') {
            if (i + 1 != e.size()) return std::nullopt;  // text after the closing quote
            return out;
        }
        out += c;
    }
    return std::nullopt;
}

// Classify one element; "" or an error text.
std::string classify(std::string_view raw, std::vector<alias_target>& out) {
    alias_target t;
    std::string content;
    bool quoted = false;
    if (auto q = unquote_whole(raw)) {
        content = std::move(*q);
        quoted = true;
    } else {
        content = std::string(raw);
    }
    if (content.find('\0') != std::string::npos || has_control(content))
        return "control character in \"" + printable(raw, 60) + "\"";
    std::string_view c = content;
    if (!c.empty() && c[0] == '|') {
        t.kind = alias_kind::command;
        t.text = std::string(trim(c.substr(1)));
        if (t.text.empty()) return "empty command in \"" + printable(raw, 60) + "\"";
    } else if (istarts_with(c, ":include:")) {
        t.kind = alias_kind::include;
        t.text = std::string(trim(c.substr(9)));
        if (t.text.empty() || t.text[0] != '/')
            return ":include: needs an absolute path in \"" + printable(raw, 60) + "\"";
    } else if (!c.empty() && c[0] == '/') {
        t.kind = alias_kind::file;
        t.text = content;
        if (!quoted && content.find_first_of(" \t") != std::string::npos)
            return "white space in a file name: quote it, as in \"/path name\"";
    } else {
        t.kind = alias_kind::address;
        if (!quoted) {
            // white space only inside a quoted local part
            bool in_q = false;
            for (size_t i = 0; i < c.size(); ++i) {
                if (c[i] == '\\' && in_q) {
                    ++i;
                    continue;
                }
                if (c[i] == '"') in_q = !in_q;
                else if (!in_q && is_space(c[i]))
                    return "white space in address \"" + printable(raw, 60) + "\" (quote it, or separate with commas)";
            }
            if (c.size() >= 2 && c.front() == '<' && c.back() == '>') {
                c = c.substr(1, c.size() - 2);
                // what is left must read as this same address again
                if (!c.empty() && (c[0] == '/' || c[0] == '|' || c[0] == '<' || istarts_with(c, ":include:") ||
                                   unquote_whole(c)))
                    return "bad address in angle brackets \"" + printable(raw, 60) + "\"";
            }
        }
        if (c.empty() || c == "<>") return "empty address in \"" + printable(raw, 60) + "\"";
        t.text = std::string(c);
    }
    out.push_back(std::move(t));
    return "";
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

}  // namespace

std::vector<alias_target> parse_alias_values(std::string_view values, std::string* error) {
    std::vector<alias_target> out;
    auto fail = [&](std::string why) {
        if (error) *error = std::move(why);
        return std::vector<alias_target>();
    };
    size_t i = 0;
    while (i <= values.size()) {
        size_t start = i;
        bool in_q = false;
        for (; i < values.size(); ++i) {
            char c = values[i];
            if (in_q && c == '\\' && i + 1 < values.size()) {
                ++i;
                continue;
            }
            if (c == '"') in_q = !in_q;
            else if (c == ',' && !in_q) break;
        }
        if (in_q) return fail("unterminated quoted string in \"" + printable(values.substr(start), 60) + "\"");
        std::string_view e = trim(values.substr(start, i - start));
        if (!e.empty()) {
            std::string why = classify(e, out);
            if (!why.empty()) return fail(why);
        }
        ++i;  // past the comma (or the end)
    }
    if (error) error->clear();
    return out;
}

std::string format_alias_values(const std::vector<alias_target>& targets) {
    std::string out;
    for (const auto& t : targets) {
        if (!out.empty()) out += ", ";
        std::string plain;
        switch (t.kind) {
        case alias_kind::command: plain = "|" + t.text; break;
        case alias_kind::include: plain = ":include:" + t.text; break;
        case alias_kind::file:
        case alias_kind::address: plain = t.text; break;
        }
        // commands and paths with specials are always quoted (Sendmail
        // style); other text stays plain when it reads back unchanged
        bool special = t.kind != alias_kind::address && plain.find_first_of(" \t,\"\\") != std::string::npos;
        std::string err;
        auto back = parse_alias_values(plain, &err);
        if (!special && back.size() == 1 && back[0] == t)
            out += plain;
        else
            out += quote(plain);
    }
    return out;
}

// ---- alias files ---------------------------------------------------------------

alias_parser::alias_parser(std::string file, const map_limits& limits, entry_sink sink,
                           std::vector<config_error>& errors) :
    _sink(std::move(sink)),
    _errors(errors),
    _reader(std::move(file), limits.line_length, [this](int n, std::string_view t) { line(n, t); }, errors) {}

void alias_parser::line(int lineno, std::string_view text) {
    auto err = [&](std::string why) { _errors.push_back({_reader.file(), lineno, std::move(why)}); };
    alias_entry e;
    e.line = lineno;
    size_t colon;
    if (text[0] == '"') {
        // "name with specials": value
        size_t i = 1;
        for (; i < text.size() && text[i] != '"'; ++i) {
            if (text[i] == '\\' && i + 1 < text.size()) ++i;
            e.name += text[i];
        }
        if (i >= text.size()) return err("unterminated quoted alias name");
        colon = i + 1;
        while (colon < text.size() && is_space(text[colon])) ++colon;
        if (colon >= text.size() || text[colon] != ':')
            return err("expected format: name: value, value, ...");
    } else {
        colon = text.find(':');
        if (colon == std::string_view::npos) return err("expected format: name: value, value, ...");
        auto name = trim(text.substr(0, colon));
        if (name.find_first_of(" \t\"") != std::string_view::npos)
            return err("bad alias name \"" + printable(name, 60) + "\" (quote a name with white space)");
        e.name = std::string(name);
    }
    if (e.name.empty()) return err("empty alias name");
    if (has_control(e.name)) return err("control character in alias name");
    std::string why;
    e.targets = parse_alias_values(text.substr(colon + 1), &why);
    if (!why.empty()) return err(why);
    if (e.targets.empty()) return err("alias \"" + printable(e.name, 60) + "\" has no values");
    e.key = to_lower(e.name);
    e.value = format_alias_values(e.targets);
    _sink(std::move(e));
}

std::vector<alias_entry> parse_aliases(std::string_view text, const std::string& file, const map_limits& limits,
                                       std::vector<config_error>& errors) {
    std::vector<alias_entry> out;
    alias_parser p(file, limits, [&](alias_entry&& e) { out.push_back(std::move(e)); }, errors);
    p.feed(text);
    p.finish();
    return out;
}

bool build_alias_table(std::string_view spec, const std::string& default_type, const map_limits& limits,
                       std::vector<config_error>& errors, build_report& report) {
    table_spec s;
    if (auto p = parse_table_spec(spec)) s = *p;
    else s = {default_type, std::string(spec)};
    auto type = db::parse_db_type(s.type);
    if (!type) {
        errors.push_back({"", 0, "\"" + printable(spec, 80) + "\": newaliases builds only hash: and btree: tables"});
        return false;
    }
    return build_db_from_source(
        s.name, *type,
        [&](const std::string& file, pair_sink sink, std::vector<config_error>& errs) {
            return std::make_unique<alias_parser>(
                file, limits, [sink](alias_entry&& e) { sink(e.line, e.key, e.value); }, errs);
        },
        errors, report);
}

}  // namespace tern
