// mime.hpp - message headers and MIME: header sections with offsets, RFC 2047
// encoded words, RFC 2231 parameters, Content-* fields, the MIME tree with
// IMAP part numbers and byte ranges, transfer decoders, charset conversion,
// HTML reduction and the decoded text of a message.
// Called by smtpd (header checks, limits), local delivery, imapd (ENVELOPE,
// BODYSTRUCTURE, BODY[section], SEARCH), spamd (tokeniser) and smtp-client
// (8BITMIME downgrade to quoted-printable).
// SECURITY: every function here reads untrusted message bytes (LF or CRLF,
// 8-bit, truncated, hostile). All work in bounded memory and linear time in
// the input, recursion is limited by mime_limits::max_depth, no function
// throws on bad input. Views (std::string_view) in the results point into the
// caller's buffer, which must outlive them. See docs/mime.md.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern {

// ---------------------------------------------------------------------------
// Header section

struct header_limits {
    size_t max_size = 102400;  // bytes of fields recorded (Postfix header_size_limit)
    size_t max_fields = 1000;  // fields recorded
};

struct header_field {
    std::string_view name;  // as written, trailing white space removed; "" when malformed
    std::string_view raw;   // the whole field with its folding, without the final line end
    size_t offset = 0;      // of raw within the buffer
    size_t size = 0;        // raw plus its final line end
    size_t value_offset = 0;  // where the value starts within raw (after ':')
    bool malformed = false;   // a line that is neither a field nor a continuation
    std::string_view raw_value() const { return raw.substr(value_offset); }
    std::string value() const;  // unfolded, outer white space trimmed
};

struct header_section {
    std::vector<header_field> fields;
    size_t offset = 0;  // first byte of the header
    size_t size = 0;    // including the empty line that ends it, when present
    size_t lines = 0;
    bool has_separator = false;  // ended by an empty line (not by the end of the input)
    bool truncated = false;      // a limit was hit: later fields are not listed
    size_t body_offset() const { return offset + size; }
    const header_field* first(std::string_view name) const;  // case-insensitive
    std::vector<const header_field*> all(std::string_view name) const;
    std::optional<std::string> get(std::string_view name) const;  // value() of first
    size_t count(std::string_view name) const;
};

// Reads the header section of msg[offset, end) (end = npos: the whole
// buffer); it ends after the first empty line. Lines without a colon are
// kept as malformed fields. The scan always finds the true end of the
// header, even past the limits; only the recording of fields stops.
header_section parse_header(std::string_view msg, const header_limits& lim = {});
header_section parse_header(std::string_view msg, size_t offset, size_t end, const header_limits& lim = {});

// Removes line breaks that fold a field (keeps the white space after them).
std::string unfold(std::string_view raw);

// ---------------------------------------------------------------------------
// Header text

// RFC 2047: decodes encoded words (B and Q, any charset iconv knows) to
// UTF-8, dropping white space between adjacent encoded words; text outside
// them is passed through (well-formed UTF-8 kept, other 8-bit bytes read as
// windows-1252). Malformed encoded words are left as they are.
std::string decode_rfc2047(std::string_view text);
// unfold + decode_rfc2047 + trim: the display form of an unstructured field.
std::string decode_header_text(std::string_view raw_value);

// ---------------------------------------------------------------------------
// Parameters and Content-* fields

struct mime_param {
    std::string name;      // lower-cased, without RFC 2231 "*n" / "*" suffixes
    std::string value;     // joined, %-decoded and converted to UTF-8
    std::string charset;   // RFC 2231 charset ("" when none)
    std::string language;  // RFC 2231 language ("" when none)
};

struct mime_params {
    std::vector<mime_param> decoded;  // one per parameter name, first-seen order
    // As written (names unchanged, values unquoted), for IMAP BODYSTRUCTURE.
    std::vector<std::pair<std::string, std::string>> raw;
    bool bad_syntax = false;
    const mime_param* find(std::string_view name) const;  // case-insensitive
    std::string get(std::string_view name, std::string_view dflt = "") const;
};

struct mime_param_limits {
    size_t max_params = 64;        // parameters kept
    size_t max_sections = 100;     // RFC 2231 continuations per parameter (name*0 .. name*99)
};

// The parameter list after the type token (starting at the first ';').
mime_params parse_mime_params(std::string_view s, const mime_param_limits& lim = {});

struct content_type {
    std::string type = "text";      // lower-case
    std::string subtype = "plain";  // lower-case
    mime_params params;
    bool defaulted = true;  // no (usable) Content-Type field: RFC 2045 default applies
    bool is(std::string_view t) const;                        // type only
    bool is(std::string_view t, std::string_view sub) const;  // type/subtype
    std::string charset() const;  // "us-ascii" when absent
};

// RFC 2045 5.2: a missing or unparsable field means text/plain; charset=us-ascii.
content_type parse_content_type(std::optional<std::string_view> value);

struct content_disposition {
    std::string type;  // lower-case: "inline", "attachment", ...
    mime_params params;
};
std::optional<content_disposition> parse_content_disposition(std::string_view value);

// Lower-cased token; "7bit" when absent or empty.
std::string parse_content_transfer_encoding(std::optional<std::string_view> value);
// Content-Language: the language tags (comments and white space removed).
std::vector<std::string> parse_content_language(std::string_view value);
// Content-Location (RFC 2557): unfolded with all white space removed.
std::string parse_content_location(std::string_view value);

// ---------------------------------------------------------------------------
// MIME tree

struct mime_limits {
    header_limits header{};
    size_t max_depth = 32;         // nesting of multipart and message parts
    size_t max_parts = 5000;       // nodes in the tree
    size_t max_total_fields = 50000;  // header fields recorded over the whole tree
    mime_param_limits params{};
};

struct byte_range {
    size_t offset = 0;
    size_t size = 0;
    std::string_view in(std::string_view msg) const { return msg.substr(offset, size); }
    bool operator==(const byte_range&) const = default;
};

struct mime_part {
    // IMAP section number of this node's body: see docs/mime.md. The root is
    // "" when multipart and "1" otherwise; children of a multipart numbered N
    // are N.1, N.2...; the message inside a message/rfc822 part N is N when
    // it is multipart (its parts are N.1...) and N.1 otherwise.
    std::string part_number;
    size_t depth = 0;

    size_t header_offset = 0, header_size = 0, header_lines = 0;
    size_t body_offset = 0, body_size = 0, body_lines = 0;
    // Line ends that are a bare LF: a CRLF view is size + bare_lf octets long.
    size_t header_bare_lf = 0, body_bare_lf = 0;

    header_section header;
    content_type type;
    std::string encoding = "7bit";  // Content-Transfer-Encoding, lower-cased
    std::string id;                 // Content-ID, unfolded ("" when absent)
    std::string description;        // Content-Description, unfolded, RFC 2047 left encoded
    std::string md5;                // Content-MD5
    std::string location;           // Content-Location
    std::vector<std::string> language;
    std::optional<content_disposition> disposition;

    // multipart: its parts; message/rfc822 or message/global: exactly one
    // child, the embedded message (its header is the message's header).
    std::vector<mime_part> children;
    bool is_message_root = false;      // the top-level or an embedded message
    bool missing_end_boundary = false; // multipart closed by its parent or the end of input
    bool truncated = false;            // a limit stopped parsing below this node

    bool is_multipart() const { return type.type == "multipart" && !children.empty(); }
    // The embedded message of a message/rfc822 (or message/global) part, or nullptr.
    const mime_part* embedded() const;
    byte_range header_range() const { return {header_offset, header_size}; }
    byte_range body_range() const { return {body_offset, body_size}; }
    byte_range range() const { return {header_offset, header_size + body_size}; }
};

struct mime_tree {
    mime_part root;
    size_t part_count = 0;
    bool truncated = false;  // some limit was hit somewhere
};

// Parses a whole message (LF or CRLF line ends). Never fails: broken
// structure gives the most useful tree it can (see docs/mime.md).
mime_tree parse_mime(std::string_view msg, const mime_limits& lim = {});

// The node whose body BODY[numbers] names ("1", "1.2.3"); nullptr when none.
const mime_part* find_part(const mime_part& root, std::string_view numbers);
// Byte range of an IMAP section spec: "", "HEADER", "TEXT", "1.2",
// "1.2.MIME", "2.HEADER", "2.TEXT" (HEADER.FIELDS... give the header range;
// the caller filters). Case-insensitive; nullopt when the part is missing or
// the spec does not apply (HEADER/TEXT of a part that is not a message).
std::optional<byte_range> imap_section(const mime_part& root, std::string_view spec);

// ---------------------------------------------------------------------------
// Decoders and encoders

// base64 that skips line breaks and garbage (error set for garbage, data
// after padding, or a dangling last character).
std::string base64_decode_lenient(std::string_view in, bool* error = nullptr);
// Quoted-printable (RFC 2045 6.7), lenient: bad "=" sequences kept as they
// are (error set), soft line breaks removed, trailing white space dropped.
// q_encoding: RFC 2047 "Q" ('_' is a space, no line structure).
std::string qp_decode(std::string_view in, bool* error = nullptr, bool q_encoding = false);
// Quoted-printable with lines of at most 76 characters, ended by eol.
std::string qp_encode(std::string_view in, std::string_view eol = "\r\n");
// Undoes base64 / quoted-printable; other encodings pass through.
std::string decode_transfer_encoding(std::string_view body, std::string_view encoding, bool* error = nullptr);

// Bytes in charset to UTF-8 (iconv). Invalid sequences become U+FFFD (lossy
// set). Unknown charsets: well-formed UTF-8 passes, other bytes are read as
// windows-1252 (lossy set). Never throws.
std::string charset_to_utf8(std::string_view in, std::string_view charset, bool* lossy = nullptr);
// True when iconv (or the built-in tables) can convert from charset.
bool charset_known(std::string_view charset);

// HTML to plain text for the spam tokeniser and SEARCH: tags, scripts,
// styles and comments dropped, entities decoded, block tags become line
// breaks, link targets kept as "href=URL" (and images as "src=URL").
// Input is UTF-8 (other bytes become U+FFFD); output is well-formed UTF-8.
std::string html_to_text(std::string_view html);

// ---------------------------------------------------------------------------
// Text of a message

struct text_limits {
    size_t max_part_bytes = 4 * 1024 * 1024;  // encoded bytes read per part (the rest ignored)
    size_t max_total_bytes = 16 * 1024 * 1024; // decoded UTF-8 handed out per message
};

// The decoded body of a part: transfer encoding undone, charset converted
// to UTF-8, text/html reduced with html_to_text.
std::string part_text(std::string_view msg, const mime_part& part, const text_limits& lim = {});

// Calls fn for every text/* leaf (inside multiparts and embedded messages),
// in document order, with its UTF-8 text.
void for_each_text_part(std::string_view msg, const mime_part& root,
                        const std::function<void(const mime_part&, std::string_view)>& fn,
                        const text_limits& lim = {});

}  // namespace tern
