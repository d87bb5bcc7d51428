// fetch_items.cpp - see fetch_items.hpp.
#include "imapd/fetch_items.hpp"

#include "imapd/format.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

bool fetch_request::sets_seen() const {
    for (auto& s : sections)
        if (!s.peek) return true;
    return false;
}

int fetch_request::needs() const {
    int n = envelope ? 1 : 0;
    if (body || bodystructure) n = 2;
    for (auto& s : sections) {
        if (s.part.empty() && (s.what == fetch_section::spec::header || s.what == fetch_section::spec::header_fields ||
                               s.what == fetch_section::spec::header_fields_not))
            n = std::max(n, 1);
        else
            n = 2;
    }
    return n;
}

namespace {

using spec = fetch_section::spec;

bool fail(std::string& err, std::string why) {
    err = std::move(why);
    return false;
}

// The header list "(From "To" X-Y)" at s[i..]; i ends after ')'.
bool header_list(std::string_view s, size_t& i, std::vector<std::string>& out, std::string& err) {
    if (i >= s.size() || s[i] != ' ') return fail(err, "HEADER.FIELDS needs a list of field names");
    ++i;
    if (i >= s.size() || s[i] != '(') return fail(err, "HEADER.FIELDS needs a list of field names");
    ++i;
    for (;;) {
        if (i >= s.size()) return fail(err, "unterminated header list");
        if (s[i] == ')') {
            ++i;
            break;
        }
        if (s[i] == ' ') {
            ++i;
            continue;
        }
        std::string name;
        if (s[i] == '"') {
            ++i;
            while (i < s.size() && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < s.size()) ++i;
                name += s[i++];
            }
            if (i >= s.size()) return fail(err, "unterminated quoted field name");
            ++i;
        } else {
            while (i < s.size() && s[i] != ' ' && s[i] != ')') name += s[i++];
        }
        if (name.empty() || name.size() > 200) return fail(err, "bad header field name");
        for (unsigned char c : name)
            if (c <= 0x20 || c >= 0x7f || c == ':') return fail(err, "bad header field name");
        if (out.size() >= 200) return fail(err, "too many header field names");
        out.push_back(std::move(name));
    }
    if (out.empty()) return fail(err, "empty header list");
    return true;
}

// "BODY[...]<a.b>" / "BODY.PEEK[...]" (text is the whole atom)
bool body_section(std::string_view text, bool peek, fetch_section& s, std::string& err) {
    size_t lb = text.find('[');
    size_t rb = text.rfind(']');
    if (rb == std::string_view::npos || rb < lb) return fail(err, "missing ']'");
    std::string_view inner = text.substr(lb + 1, rb - lb - 1);
    std::string_view tail = text.substr(rb + 1);
    s.peek = peek;
    // section-part
    size_t i = 0;
    while (i < inner.size() && inner[i] >= '0' && inner[i] <= '9') {
        size_t st = i;
        while (i < inner.size() && inner[i] >= '0' && inner[i] <= '9') ++i;
        if (inner[st] == '0' || i - st > 9) return fail(err, "bad section part number");
        if (i < inner.size() && inner[i] == '.') {
            ++i;
            if (i >= inner.size()) return fail(err, "section ends with '.'");
        } else if (i < inner.size()) {
            return fail(err, "bad section");
        }
    }
    std::string_view part = inner.substr(0, i);
    if (!part.empty() && part.back() == '.') part.remove_suffix(1);
    s.part = std::string(part);
    std::string_view rest = inner.substr(i);
    std::string label_spec;
    if (rest.empty()) {
        s.what = spec::all;
    } else {
        size_t w = 0;
        while (w < rest.size() && rest[w] != ' ') ++w;
        std::string word = to_upper(rest.substr(0, w));
        size_t j = w;
        if (word == "HEADER") s.what = spec::header;
        else if (word == "TEXT") s.what = spec::text;
        else if (word == "MIME") {
            if (s.part.empty()) return fail(err, "MIME needs a part number");
            s.what = spec::mime;
        } else if (word == "HEADER.FIELDS" || word == "HEADER.FIELDS.NOT") {
            s.what = word == "HEADER.FIELDS" ? spec::header_fields : spec::header_fields_not;
            if (!header_list(rest, j, s.fields, err)) return false;
        } else {
            return fail(err, "unknown section " + printable(rest, 40));
        }
        if (j != rest.size()) return fail(err, "junk after section");
        label_spec = word;
        if (!s.fields.empty()) {
            label_spec += " (";
            for (size_t k = 0; k < s.fields.size(); k++) {
                if (k) label_spec += ' ';
                label_spec += s.fields[k];
            }
            label_spec += ')';
        }
    }
    s.label = "BODY[" + s.part + (s.part.empty() || label_spec.empty() ? "" : ".") + label_spec + "]";
    if (!tail.empty()) {
        // <offset.length>
        if (tail.size() < 5 || tail.front() != '<' || tail.back() != '>') return fail(err, "bad partial");
        std::string_view nums = tail.substr(1, tail.size() - 2);
        size_t dot = nums.find('.');
        if (dot == std::string_view::npos) return fail(err, "bad partial");
        auto o = parse_u64(nums.substr(0, dot));
        auto l = parse_u64(nums.substr(dot + 1));
        if (!o || !l || *l == 0 || *o > UINT32_MAX || *l > UINT32_MAX) return fail(err, "bad partial");
        s.partial = true;
        s.offset = *o;
        s.length = *l;
        s.label += "<" + std::to_string(*o) + ">";
    }
    return true;
}

bool item(const arg& a, fetch_request& r, std::string& err) {
    if (!a.is_atom()) return fail(err, "FETCH items are atoms");
    std::string_view t = a.text;
    size_t lb = t.find('[');
    std::string name = to_upper(t.substr(0, lb));
    if (lb != std::string_view::npos) {
        if (name != "BODY" && name != "BODY.PEEK") return fail(err, "unknown FETCH item " + printable(t, 40));
        fetch_section s;
        if (!body_section(t, name == "BODY.PEEK", s, err)) return false;
        r.sections.push_back(std::move(s));
        return true;
    }
    if (name == "UID") r.uid = true;
    else if (name == "FLAGS") r.flags = true;
    else if (name == "INTERNALDATE") r.internaldate = true;
    else if (name == "RFC822.SIZE") r.size = true;
    else if (name == "ENVELOPE") r.envelope = true;
    else if (name == "BODY") r.body = true;
    else if (name == "BODYSTRUCTURE") r.bodystructure = true;
    else if (name == "MODSEQ") r.modseq = true;
    else if (name == "RFC822" || name == "RFC822.HEADER" || name == "RFC822.TEXT") {
        fetch_section s;
        s.label = name;
        s.what = name == "RFC822" ? spec::all : name == "RFC822.HEADER" ? spec::header : spec::text;
        s.peek = name == "RFC822.HEADER";
        r.sections.push_back(std::move(s));
    } else if (name == "ALL" || name == "FAST" || name == "FULL") {
        return fail(err, name + " is a macro and cannot be in a list");
    } else {
        return fail(err, "unknown FETCH item " + printable(t, 40));
    }
    return true;
}

}  // namespace

bool parse_fetch(const std::vector<arg>& args, size_t pos, fetch_request& r, std::string& err) {
    r = fetch_request{};
    if (pos >= args.size()) return fail(err, "FETCH needs items");
    const arg& a = args[pos];
    if (a.is_list()) {
        if (a.items.empty()) return fail(err, "empty FETCH item list");
        if (a.items.size() > 100) return fail(err, "too many FETCH items");
        for (auto& x : a.items)
            if (!item(x, r, err)) return false;
    } else if (a.is("ALL") || a.is("FAST") || a.is("FULL")) {
        r.flags = r.internaldate = r.size = true;
        if (!a.is("FAST")) r.envelope = true;
        if (a.is("FULL")) r.body = true;
    } else if (!item(a, r, err)) {
        return false;
    }
    ++pos;
    if (pos < args.size()) {
        const arg& m = args[pos];
        if (!m.is_list() || m.items.empty()) return fail(err, "FETCH modifiers must be a list");
        for (size_t i = 0; i < m.items.size(); i++) {
            if (m.items[i].is("CHANGEDSINCE")) {
                if (i + 1 >= m.items.size() || !m.items[i + 1].is_atom()) return fail(err, "CHANGEDSINCE needs a modseq");
                auto v = parse_u64(m.items[++i].text);
                if (!v || *v > uint64_t(INT64_MAX)) return fail(err, "bad CHANGEDSINCE modseq");
                r.changedsince = *v;
                r.modseq = true;
            } else if (m.items[i].is("VANISHED")) {
                r.vanished = true;
            } else {
                return fail(err, "unknown FETCH modifier");
            }
        }
        ++pos;
    }
    if (pos != args.size()) return fail(err, "junk after FETCH items");
    if (r.vanished && !r.changedsince) return fail(err, "VANISHED needs CHANGEDSINCE");
    return true;
}

bool section_bytes(std::string_view msg, const mime_part& root, const fetch_section& s, std::string& built,
                   std::string_view& out) {
    auto range_of = [&](const std::string& spec_text) {
        auto r = imap_section(root, spec_text);
        if (!r || r->offset > msg.size()) return false;
        out = msg.substr(r->offset, std::min(r->size, msg.size() - r->offset));
        return true;
    };
    std::string dot = s.part.empty() ? "" : s.part + ".";
    switch (s.what) {
    case spec::all:
        if (s.part.empty()) {
            out = msg;
            return true;
        }
        return range_of(s.part);
    case spec::header: return range_of(dot + "HEADER");
    case spec::text: return range_of(dot + "TEXT");
    case spec::mime: return range_of(s.part + ".MIME");
    case spec::header_fields:
    case spec::header_fields_not: {
        if (!imap_section(root, dot + "HEADER")) return false;
        const header_section* h = &root.header;
        if (!s.part.empty()) {
            const mime_part* p = find_part(root, s.part);
            const mime_part* e = p ? p->embedded() : nullptr;
            if (!e) return false;
            h = &e->header;
        }
        bool want = s.what == spec::header_fields;
        built.clear();
        for (auto& f : h->fields) {
            if (f.malformed) continue;
            bool listed = false;
            for (auto& n : s.fields)
                if (iequals(f.name, n)) listed = true;
            if (listed == want && f.offset <= msg.size()) built.append(msg.substr(f.offset, f.size));
        }
        built += "\r\n";
        out = built;
        return true;
    }
    }
    return false;
}

}  // namespace tern::imap
