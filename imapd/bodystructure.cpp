// bodystructure.cpp - see bodystructure.hpp. Like Dovecot, an address
// without a domain gets host "MISSING_DOMAIN" (a NIL host would read as
// the start of a group) and one without a local part "MISSING_MAILBOX".
#include "imapd/bodystructure.hpp"

#include "imapd/format.hpp"
#include "lib/addr.hpp"

namespace tern::imap {

namespace {

void nstring_or_nil(std::string& out, std::string_view s) {
    if (s.empty())
        out += "NIL";
    else
        append_string(out, s);
}

void address_list_of(std::string& out, const header_section& h, std::string_view name) {
    const header_field* f = h.first(name);
    if (!f) {
        out += "NIL";
        return;
    }
    address_list list = parse_address_list(f->raw_value());
    if (list.items.empty()) {
        out += "NIL";
        return;
    }
    out += '(';
    for (auto& a : list.items) {
        switch (a.type) {
        case mail_address::kind::group_start:
            out += "(NIL NIL ";
            append_string(out, a.display_raw);
            out += " NIL)";
            break;
        case mail_address::kind::group_end:
            out += "(NIL NIL NIL NIL)";
            break;
        case mail_address::kind::mailbox:
            out += '(';
            nstring_or_nil(out, a.display_raw);
            out += ' ';
            nstring_or_nil(out, a.route);
            out += ' ';
            append_string(out, a.local.empty() ? std::string("MISSING_MAILBOX") : quote_local(a.local));
            out += ' ';
            append_string(out, a.domain.empty() ? std::string_view("MISSING_DOMAIN") : std::string_view(a.domain));
            out += ')';
            break;
        }
    }
    out += ')';
}

void field_nstring(std::string& out, const header_section& h, std::string_view name) {
    auto v = h.get(name);
    if (!v) {
        out += "NIL";
        return;
    }
    append_string(out, *v);
}

void params(std::string& out, const mime_params& p) {
    if (p.raw.empty()) {
        out += "NIL";
        return;
    }
    out += '(';
    bool first = true;
    for (auto& [k, v] : p.raw) {
        if (!first) out += ' ';
        first = false;
        append_string(out, k);
        out += ' ';
        append_string(out, v);
    }
    out += ')';
}

// The extension data after the basic fields: [md5] disposition language location.
void extension(std::string& out, const mime_part& p, bool with_md5) {
    if (with_md5) {
        out += ' ';
        nstring_or_nil(out, p.md5);
    }
    out += ' ';
    if (p.disposition) {
        out += '(';
        append_string(out, p.disposition->type);
        out += ' ';
        params(out, p.disposition->params);
        out += ')';
    } else {
        out += "NIL";
    }
    out += ' ';
    if (p.language.empty()) {
        out += "NIL";
    } else if (p.language.size() == 1) {
        append_string(out, p.language[0]);
    } else {
        out += '(';
        for (size_t i = 0; i < p.language.size(); i++) {
            if (i) out += ' ';
            append_string(out, p.language[i]);
        }
        out += ')';
    }
    out += ' ';
    nstring_or_nil(out, p.location);
}

void structure(std::string& out, const mime_part& p, bool ext);

void single(std::string& out, const mime_part& p, bool ext) {
    out += '(';
    append_string(out, p.type.type);
    out += ' ';
    append_string(out, p.type.subtype);
    out += ' ';
    if (p.type.defaulted && p.type.params.raw.empty())
        out += "(\"charset\" \"us-ascii\")";
    else
        params(out, p.type.params);
    out += ' ';
    nstring_or_nil(out, p.id);
    out += ' ';
    nstring_or_nil(out, p.description);
    out += ' ';
    append_string(out, p.encoding);
    out += ' ';
    out += std::to_string(p.body_size + p.body_bare_lf);
    const mime_part* inner = p.embedded();
    if (inner) {
        out += ' ';
        out += envelope(inner->header);
        out += ' ';
        structure(out, *inner, ext);
        out += ' ';
        out += std::to_string(p.body_lines);
    } else if (p.type.is("text")) {
        out += ' ';
        out += std::to_string(p.body_lines);
    }
    if (ext) extension(out, p, true);
    out += ')';
}

void structure(std::string& out, const mime_part& p, bool ext) {
    if (!p.is_multipart()) {
        single(out, p, ext);
        return;
    }
    out += '(';
    for (auto& c : p.children) structure(out, c, ext);
    out += ' ';
    append_string(out, p.type.subtype);
    if (ext) {
        out += ' ';
        params(out, p.type.params);
        extension(out, p, false);
    }
    out += ')';
}

}  // namespace

std::string envelope(const header_section& h) {
    std::string out = "(";
    field_nstring(out, h, "Date");
    out += ' ';
    field_nstring(out, h, "Subject");
    out += ' ';
    address_list_of(out, h, "From");
    out += ' ';
    // RFC 3501: an absent or empty Sender / Reply-To is the From value
    auto present = [&](std::string_view name) {
        const header_field* f = h.first(name);
        return f && !parse_address_list(f->raw_value()).items.empty();
    };
    address_list_of(out, h, present("Sender") ? "Sender" : "From");
    out += ' ';
    address_list_of(out, h, present("Reply-To") ? "Reply-To" : "From");
    out += ' ';
    address_list_of(out, h, "To");
    out += ' ';
    address_list_of(out, h, "Cc");
    out += ' ';
    address_list_of(out, h, "Bcc");
    out += ' ';
    field_nstring(out, h, "In-Reply-To");
    out += ' ';
    field_nstring(out, h, "Message-ID");
    out += ')';
    return out;
}

std::string body_structure(const mime_part& root, bool extended) {
    std::string out;
    structure(out, root, extended);
    return out;
}

}  // namespace tern::imap
