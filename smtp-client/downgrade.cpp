// downgrade.cpp - see downgrade.hpp.
#include "smtp-client/downgrade.hpp"

#include <algorithm>
#include <vector>

#include "lib/mime.hpp"
#include "smtp-client/data.hpp"

namespace tern::smtp_client {

namespace {

struct edit {
    size_t offset;
    size_t length;  // bytes replaced (0: insertion)
    std::string text;
};

// Replace the part's Content-Transfer-Encoding field, or add one after its
// last header field.
void set_encoding(const mime_part& p, std::string_view msg, std::string_view value, std::vector<edit>& edits) {
    std::string field = "Content-Transfer-Encoding: " + std::string(value);
    if (const header_field* f = p.header.first("Content-Transfer-Encoding")) {
        edits.push_back({f->offset, f->raw.size(), field});
        return;
    }
    size_t at = p.header_offset;
    if (!p.header.fields.empty()) {
        const auto& last = p.header.fields.back();
        at = last.offset + last.size;
    }
    std::string text = field + "\n";
    if (at > 0 && at <= msg.size() && msg[at - 1] != '\n') text = "\n" + text;
    edits.push_back({at, 0, text});
}

bool declared_8bit(const mime_part& p) { return p.encoding == "8bit" || p.encoding == "binary"; }

void walk(const mime_part& p, std::string_view msg, std::vector<edit>& edits) {
    if (p.is_multipart()) {
        for (const auto& c : p.children) walk(c, msg, edits);
        if (declared_8bit(p)) set_encoding(p, msg, "7bit", edits);
        return;
    }
    if (const mime_part* inner = p.embedded()) {
        walk(*inner, msg, edits);
        if (declared_8bit(p)) set_encoding(p, msg, "7bit", edits);
        return;
    }
    std::string_view body = msg.substr(p.body_offset, p.body_size);
    if (!has_8bit(body)) {
        if (declared_8bit(p)) set_encoding(p, msg, "7bit", edits);
        return;
    }
    // a base64 or quoted-printable body with raw 8-bit bytes is broken
    // already; encoding it again would change what it decodes to
    if (p.encoding == "base64" || p.encoding == "quoted-printable") return;
    edits.push_back({p.body_offset, p.body_size, qp_encode(body, "\n")});
    set_encoding(p, msg, "quoted-printable", edits);
}

}  // namespace

std::string downgrade_8bit(std::string_view msg) {
    mime_tree tree = parse_mime(msg);
    std::vector<edit> edits;
    walk(tree.root, msg, edits);
    if (edits.empty()) return std::string(msg);
    if (!tree.root.header.first("MIME-Version")) {
        size_t at = tree.root.header_offset;  // first line of the message
        edits.push_back({at, 0, "MIME-Version: 1.0\n"});
    }
    // insertions before replacements at the same offset keep both intact
    std::stable_sort(edits.begin(), edits.end(), [](const edit& a, const edit& b) {
        if (a.offset != b.offset) return a.offset < b.offset;
        return a.length < b.length;
    });
    std::string out;
    out.reserve(msg.size() + msg.size() / 4);
    size_t pos = 0;
    for (const auto& e : edits) {
        if (e.offset < pos) continue;  // overlapping edit: cannot happen for a sane tree; skip
        out.append(msg.substr(pos, e.offset - pos));
        out += e.text;
        pos = e.offset + e.length;
    }
    if (pos < msg.size()) out.append(msg.substr(pos));
    return out;
}

}  // namespace tern::smtp_client
