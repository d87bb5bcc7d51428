// mime_tree.cpp - the MIME tree of a message (RFC 2045/2046): nested
// multiparts and message/rfc822 parts with byte offsets, line counts and IMAP
// part numbers; IMAP section lookup; the decoded text of text parts.
// Called by imapd (BODYSTRUCTURE, BODY[section], SEARCH), spamd, local delivery.
// SECURITY: parses untrusted messages. One forward pass: each line is looked
// at once by the innermost open part, against a stack of at most max_depth
// boundaries. Recursion depth <= mime_limits::max_depth, nodes <=
// max_parts, recorded header fields <= max_total_fields.
#include "lib/mime.hpp"

#include <algorithm>
#include <cstring>

#include "lib/strutil.hpp"

namespace tern {

namespace {

// Where a part's content stopped.
struct stop {
    size_t line = 0;   // start of the boundary line, or the end of the input
    int which = -1;    // index of the matched boundary in the stack; -1: end of input
    bool close = false;
};

std::string raw_param(const mime_params& p, std::string_view name) {
    for (const auto& [n, v] : p.raw)
        if (iequals(n, name)) return v;
    return p.get(name);
}

std::string join_number(const std::string& prefix, size_t n) {
    return prefix.empty() ? std::to_string(n) : prefix + "." + std::to_string(n);
}

class builder {
public:
    builder(std::string_view m, const mime_limits& lim) : _m(m), _lim(lim) {}

    mime_tree run() {
        mime_tree t;
        t.root.is_message_root = true;
        parse_entity(t.root, 0, 0, false);
        number_message(t.root, "");
        t.part_count = _parts;
        t.truncated = _truncated;
        return t;
    }

private:
    size_t next_line(size_t pos) const {
        if (pos >= _m.size()) return _m.size();
        const void* nl = std::memchr(_m.data() + pos, '\n', _m.size() - pos);
        return nl ? static_cast<size_t>(static_cast<const char*>(nl) - _m.data()) + 1 : _m.size();
    }

    // Is the line at pos "--boundary" of an open multipart? Innermost first,
    // so an inner boundary that starts with an outer one still wins.
    bool boundary_at(size_t pos, stop& st) const {
        if (_stack.empty() || pos + 2 > _m.size() || _m[pos] != '-' || _m[pos + 1] != '-') return false;
        std::string_view rest = _m.substr(pos + 2);
        for (size_t k = _stack.size(); k-- > 0;) {
            const std::string& b = _stack[k];
            if (rest.size() >= b.size() && rest.compare(0, b.size(), b) == 0) {
                st.line = pos;
                st.which = static_cast<int>(k);
                st.close = rest.size() >= b.size() + 2 && rest[b.size()] == '-' && rest[b.size() + 1] == '-';
                return true;
            }
        }
        return false;
    }

    stop find_boundary(size_t pos) const {
        stop st;
        st.line = _m.size();
        if (_stack.empty()) return st;
        while (pos < _m.size()) {
            if (boundary_at(pos, st)) return st;
            pos = next_line(pos);
        }
        st = stop{};
        st.line = _m.size();
        return st;
    }

    // End of content that stopped at st: the line break before a boundary
    // line belongs to the boundary (RFC 2046 5.1.1). Never before from.
    size_t content_end(const stop& st, size_t from) const {
        if (st.which < 0) return _m.size();
        size_t e = st.line;
        if (e > from && _m[e - 1] == '\n') {
            --e;
            if (e > from && _m[e - 1] == '\r') --e;
        }
        return std::max(e, from);
    }

    static void count_lines(std::string_view s, size_t& lines, size_t& bare_lf) {
        lines = 0;
        bare_lf = 0;
        const char* p = s.data();
        const char* end = s.data() + s.size();
        while (p < end) {
            const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
            if (!nl) break;
            const char* q = static_cast<const char*>(nl);
            ++lines;
            if (q == s.data() || q[-1] != '\r') ++bare_lf;
            p = q + 1;
        }
        if (!s.empty() && s.back() != '\n') ++lines;
    }

    void content_fields(mime_part& node, bool digest_child) {
        const header_section& h = node.header;
        if (auto f = h.first("Content-Type")) {
            node.type = parse_content_type(f->value());
        } else if (digest_child) {
            node.type = content_type{};
            node.type.type = "message";
            node.type.subtype = "rfc822";
        } else {
            node.type = parse_content_type(std::nullopt);
        }
        if (auto f = h.first("Content-Transfer-Encoding")) node.encoding = parse_content_transfer_encoding(f->value());
        if (auto f = h.first("Content-ID")) node.id = f->value();
        if (auto f = h.first("Content-Description")) node.description = f->value();
        if (auto f = h.first("Content-MD5")) node.md5 = f->value();
        if (auto f = h.first("Content-Location")) node.location = parse_content_location(f->value());
        if (auto f = h.first("Content-Language")) node.language = parse_content_language(f->value());
        if (auto f = h.first("Content-Disposition")) node.disposition = parse_content_disposition(f->value());
    }

    // A multipart without usable structure is shown as the RFC 2045 default
    // type, so that BODYSTRUCTURE never holds a multipart without parts.
    static void degrade(mime_part& node) {
        node.type = parse_content_type(std::nullopt);
        node.children.clear();
    }

    static void make_empty(mime_part& c, size_t at) {
        c.header_offset = c.body_offset = at;
        c.header_size = c.body_size = c.header_lines = c.body_lines = 0;
        c.header_bare_lf = c.body_bare_lf = 0;
        c.header = header_section{};
        c.header.offset = at;
        for (auto& g : c.children) make_empty(g, at);
        if (c.type.is("multipart")) degrade(c);
    }

    // Parses the entity (header + body) at pos; returns where it stopped.
    stop parse_entity(mime_part& node, size_t pos, size_t depth, bool digest_child) {
        ++_parts;
        node.depth = depth;
        node.header_offset = pos;

        // Header extent: up to the empty line, a boundary line, or the end.
        size_t p = pos, hdr_end, body_start;
        stop st;
        bool hit_boundary = false;
        for (;;) {
            if (p >= _m.size()) {
                hdr_end = body_start = _m.size();
                break;
            }
            if (boundary_at(p, st)) {
                hit_boundary = true;
                hdr_end = body_start = content_end(st, pos);
                break;
            }
            size_t nx = next_line(p);
            size_t ce = nx;
            if (ce > p && _m[ce - 1] == '\n') --ce;
            if (ce > p && _m[ce - 1] == '\r') --ce;
            if (ce == p) {
                hdr_end = body_start = nx;
                break;
            }
            p = nx;
        }
        header_limits hl = _lim.header;
        size_t budget = _lim.max_total_fields > _fields ? _lim.max_total_fields - _fields : 0;
        hl.max_fields = std::min(hl.max_fields, budget);
        node.header = parse_header(_m, pos, hdr_end, hl);
        _fields += node.header.fields.size();
        if (node.header.truncated) _truncated = true;
        node.body_offset = body_start;
        content_fields(node, digest_child);

        const bool can_nest = depth < _lim.max_depth && _parts < _lim.max_parts;
        if (hit_boundary) {
            if (node.type.is("multipart")) degrade(node);
        } else if (node.type.is("multipart")) {
            std::string boundary = raw_param(node.type.params, "boundary");
            if (boundary.empty()) {
                degrade(node);
                st = find_boundary(body_start);
            } else if (!can_nest) {
                node.truncated = _truncated = true;
                degrade(node);
                st = find_boundary(body_start);
            } else {
                st = parse_multipart(node, boundary, body_start, depth);
            }
        } else if ((node.type.is("message", "rfc822") || node.type.is("message", "global")) &&
                   (node.encoding == "7bit" || node.encoding == "8bit" || node.encoding == "binary")) {
            if (can_nest) {
                node.children.emplace_back();
                mime_part& e = node.children.back();
                e.is_message_root = true;
                st = parse_entity(e, body_start, depth + 1, false);
            } else {
                node.truncated = _truncated = true;
                st = find_boundary(body_start);
            }
        } else {
            st = find_boundary(body_start);
        }

        // Sizes. An entity whose end falls inside its own header (the line
        // break before a boundary was counted as the header's empty line)
        // gets its header cut there and an empty body.
        size_t end = content_end(st, pos);
        if (end < body_start) {
            node.body_offset = end;
            node.header.size = end - pos;  // only the empty line is cut off
            node.header.has_separator = false;
        }
        // Likewise an empty last child that begins after that line break
        // (a delimiter line directly followed by the parent's delimiter).
        for (auto& c : node.children)
            if (c.header_offset > end) make_empty(c, end);
        node.header_size = node.body_offset - pos;
        node.body_size = std::max(end, node.body_offset) - node.body_offset;
        count_lines(_m.substr(pos, node.header_size), node.header_lines, node.header_bare_lf);
        count_lines(_m.substr(node.body_offset, node.body_size), node.body_lines, node.body_bare_lf);
        return st;
    }

    stop parse_multipart(mime_part& node, const std::string& boundary, size_t body_start, size_t depth) {
        const bool digest = node.type.subtype == "digest";
        _stack.push_back(boundary);
        const int own = static_cast<int>(_stack.size() - 1);
        stop st = find_boundary(body_start);  // skips the preamble
        while (st.which == own && !st.close) {
            size_t child = next_line(st.line);
            if (_parts >= _lim.max_parts) {
                node.truncated = _truncated = true;
                for (;;) {  // skip the remaining parts
                    st = find_boundary(child);
                    if (st.which != own || st.close) break;
                    child = next_line(st.line);
                }
                break;
            }
            node.children.emplace_back();
            st = parse_entity(node.children.back(), child, depth + 1, digest);
        }
        _stack.pop_back();
        if (st.which == own && st.close) {
            st = find_boundary(next_line(st.line));  // the epilogue
        } else {
            node.missing_end_boundary = true;
        }
        if (node.children.empty()) degrade(node);
        return st;
    }

    void number_message(mime_part& x, const std::string& prefix) {
        if (x.is_multipart()) {
            x.part_number = prefix;
            number_children(x, prefix);
        } else {
            number_part(x, join_number(prefix, 1));
        }
    }

    void number_part(mime_part& y, const std::string& num) {
        y.part_number = num;
        if (y.is_multipart()) {
            number_children(y, num);
        } else if (y.embedded()) {
            number_message(y.children.front(), num);
        }
    }

    void number_children(mime_part& y, const std::string& prefix) {
        for (size_t i = 0; i < y.children.size(); ++i) number_part(y.children[i], join_number(prefix, i + 1));
    }

    std::string_view _m;
    const mime_limits& _lim;
    std::vector<std::string> _stack;
    size_t _parts = 0;
    size_t _fields = 0;
    bool _truncated = false;
};

const mime_part* sub_part(const mime_part& x, size_t n) {
    if (x.is_multipart()) return n >= 1 && n <= x.children.size() ? &x.children[n - 1] : nullptr;
    return n == 1 ? &x : nullptr;
}

}  // namespace

const mime_part* mime_part::embedded() const {
    if ((type.is("message", "rfc822") || type.is("message", "global")) && children.size() == 1 &&
        children.front().is_message_root)
        return &children.front();
    return nullptr;
}

mime_tree parse_mime(std::string_view msg, const mime_limits& lim) { return builder(msg, lim).run(); }

const mime_part* find_part(const mime_part& root, std::string_view numbers) {
    if (numbers.empty()) return nullptr;
    const mime_part* node = nullptr;
    size_t i = 0;
    bool first = true;
    while (i <= numbers.size()) {
        size_t dot = numbers.find('.', i);
        if (dot == std::string_view::npos) dot = numbers.size();
        auto n = parse_u64(numbers.substr(i, dot - i));
        if (!n || *n == 0 || dot - i > 6) return nullptr;
        if (first) {
            node = sub_part(root, *n);
            first = false;
        } else if (node->is_multipart()) {
            node = sub_part(*node, *n);
        } else if (auto e = node->embedded()) {
            node = sub_part(*e, *n);
        } else {
            return nullptr;
        }
        if (!node) return nullptr;
        if (dot == numbers.size()) break;
        i = dot + 1;
    }
    return node;
}

std::optional<byte_range> imap_section(const mime_part& root, std::string_view spec) {
    // Leading part numbers, then an optional keyword.
    size_t i = 0;
    size_t num_end = 0;
    while (i < spec.size()) {
        size_t dot = spec.find('.', i);
        if (dot == std::string_view::npos) dot = spec.size();
        std::string_view piece = spec.substr(i, dot - i);
        if (piece.empty() || piece.find_first_not_of("0123456789") != std::string_view::npos) break;
        num_end = dot;
        i = dot + 1;
    }
    std::string_view numbers = spec.substr(0, num_end);
    std::string_view kw = num_end == 0 ? spec : (num_end < spec.size() ? spec.substr(num_end + 1) : "");
    if (num_end > 0 && num_end < spec.size() && kw.empty()) return std::nullopt;  // "1." 
    bool header = iequals(kw, "HEADER") || istarts_with(kw, "HEADER.FIELDS");
    bool text = iequals(kw, "TEXT");
    bool mime = iequals(kw, "MIME");
    if (!kw.empty() && !header && !text && !mime) return std::nullopt;
    if (numbers.empty()) {
        if (kw.empty()) return root.range();
        if (header) return root.header_range();
        if (text) return root.body_range();
        return std::nullopt;
    }
    const mime_part* node = find_part(root, numbers);
    if (!node) return std::nullopt;
    if (kw.empty()) return node->body_range();
    if (mime) return node->header_range();
    const mime_part* e = node->embedded();
    if (!e) return std::nullopt;
    return header ? e->header_range() : e->body_range();
}

std::string part_text(std::string_view msg, const mime_part& part, const text_limits& lim) {
    std::string_view body = part.body_range().in(msg);
    if (body.size() > lim.max_part_bytes) body = body.substr(0, lim.max_part_bytes);
    std::string decoded = decode_transfer_encoding(body, part.encoding);
    std::string text = charset_to_utf8(decoded, part.type.charset());
    if (part.type.is("text", "html")) return html_to_text(text);
    return text;
}

namespace {

void walk_text(std::string_view msg, const mime_part& node,
               const std::function<void(const mime_part&, std::string_view)>& fn, const text_limits& lim,
               size_t& total) {
    if (total >= lim.max_total_bytes) return;
    if (node.is_multipart()) {
        for (const auto& c : node.children) walk_text(msg, c, fn, lim, total);
    } else if (auto e = node.embedded()) {
        walk_text(msg, *e, fn, lim, total);
    } else if (node.type.is("text")) {
        std::string t = part_text(msg, node, lim);
        if (t.size() > lim.max_total_bytes - total) {
            // Cut on a character boundary.
            size_t cut = lim.max_total_bytes - total;
            while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;
            t.resize(cut);
            total = lim.max_total_bytes;  // nothing more after a cut
        } else {
            total += t.size();
        }
        fn(node, t);
    }
}

}  // namespace

void for_each_text_part(std::string_view msg, const mime_part& root,
                        const std::function<void(const mime_part&, std::string_view)>& fn,
                        const text_limits& lim) {
    size_t total = 0;
    walk_text(msg, root, fn, lim, total);
}

}  // namespace tern
