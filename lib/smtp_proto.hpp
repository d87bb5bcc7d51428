// smtp_proto.hpp - the server side of the SMTP wire, as pure functions with
// no I/O: splitting a command line into verb and argument, the DATA stream
// decoder (end of data, dot-unstuffing, bare CR/LF detection, CRLF to LF),
// the BDAT line-end converter, and reply formatting. smtpd and sendmail -bs
// use them; the fuzz targets call them directly.
// SECURITY: every byte here comes from an SMTP client. End of data is only
// CRLF "." CRLF; a bare CR or LF anywhere is reported so that no message
// can be smuggled inside another. All state is a few bytes; output grows
// only with input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::smtp {

// ---------------------------------------------------------------------------
// Command lines

enum class line_error {
    none,
    bare_cr,   // CR not followed by LF inside the line
    bare_lf,   // the line ended in LF without CR
    nul,       // a NUL byte
    empty,     // nothing but white space
};
const char* line_error_text(line_error e);

struct command {
    std::string verb;      // upper-cased, e.g. "MAIL"
    std::string_view arg;  // the rest after the verb and one run of spaces; may be empty
    line_error error = line_error::none;
};

// Finds the end of the first line in buf: the offset just past its LF, or
// npos when buf holds no LF yet.
size_t find_line_end(std::string_view buf);

// Parses one command line: `line` includes its line end (CRLF or bare LF),
// or not (then it counts as CRLF-ended). The argument view points into line.
command parse_command(std::string_view line);

// ---------------------------------------------------------------------------
// DATA

// Incremental decoder of the DATA stream. Feed the bytes after "354" in any
// pieces; it writes the message with LF line ends and leading dots removed,
// and stops right after the CRLF "." CRLF that ends the data.
class data_decoder {
public:
    enum class status {
        need_more,  // everything consumed, no end yet
        done,       // end of data seen; `consumed` stops right after it
        bare_cr,    // refused: a CR not followed by LF (forbid_bare_newline)
        bare_lf,    // refused: a LF not preceded by CR (forbid_bare_newline)
    };
    struct result {
        status st = status::need_more;
        size_t consumed = 0;
    };

    // forbid_bare_newline: stop with bare_cr/bare_lf at the first such byte.
    // Otherwise a bare LF ends a line (stored as LF) and a bare CR is data;
    // either way only CRLF "." CRLF (at the start or after CRLF) ends the data.
    explicit data_decoder(bool forbid_bare_newline = true) : _forbid(forbid_bare_newline) {}

    // Appends decoded bytes to *out (nullptr: decode and count but keep
    // nothing, e.g. after a size overrun).
    result feed(std::string_view in, std::string* out);

    // Decoded size so far (LF line ends) and number of LFs in it; the size
    // on the wire with CRLF is bytes() + lines().
    uint64_t bytes() const { return _bytes; }
    uint64_t lines() const { return _lines; }
    bool finished() const { return _st == st_done; }
    void reset();

private:
    enum state : uint8_t {
        st_bol,      // at the start of a line that followed CRLF (or of the data)
        st_bol_lf,   // at the start of a line that followed a bare LF
        st_mid,      // inside a line
        st_cr,       // inside a line, after a CR not yet known to end it
        st_dot,      // "." at the start of a line after CRLF
        st_dot_cr,   // "." CR at the start of a line after CRLF
        st_done,
    };
    void emit(std::string* out, const char* p, size_t n);
    void emit_lf(std::string* out);
    bool _forbid;
    state _st = st_bol;
    uint64_t _bytes = 0, _lines = 0;
};

// ---------------------------------------------------------------------------
// BDAT

// CRLF to LF for BDAT chunks (binary-transparent: no dots, no end marker).
// A CR at the end of one chunk is held until the next byte is known.
class crlf_converter {
public:
    void feed(std::string_view in, std::string* out);
    // The data is complete (BDAT LAST): a held CR is data.
    void finish(std::string* out);
    uint64_t bytes() const { return _bytes; }
    uint64_t lines() const { return _lines; }
    void reset() { *this = crlf_converter(); }

private:
    bool _cr = false;
    uint64_t _bytes = 0, _lines = 0;
};

// ---------------------------------------------------------------------------
// Replies

// "250 2.1.0 Ok\r\n"; text with '\n' becomes a multi-line reply
// ("250-first\r\n250 2.0.0 last\r\n"), each line carrying the status code.
// An empty dsn leaves the status code out (220 greeting, 354, 334).
std::string format_reply(int code, std::string_view dsn, std::string_view text);

// A reply read back (for tests and sendmail -bs): the 3-digit code of the
// last line, or 0 when the text is not a reply.
int reply_code(std::string_view reply);

}  // namespace tern::smtp
