// data.hpp - the message as it goes out after DATA: queue files store lines
// ended by LF; SMTP wants CRLF, a leading "." doubled (RFC 5321 4.5.2), lines
// of at most smtp_line_length_limit bytes, and "CRLF.CRLF" at the end.
// Works on chunks so a large message is never held in memory at once.
// SECURITY: the body is untrusted. Every CR, LF or CRLF in it becomes one
// CRLF, so no bare CR or LF reaches the next hop and no "." line can end the
// data early (SMTP smuggling).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tern::smtp_client {

class data_encoder {
public:
    // line_limit: longest output line without CRLF; longer lines are broken
    // with CRLF SPACE (as Postfix does). 0: no limit; tiny limits become 40.
    explicit data_encoder(size_t line_limit = 998) : _limit(line_limit && line_limit < 40 ? 40 : line_limit) {}
    // Append the SMTP form of the next chunk of the message to out.
    void feed(std::string_view chunk, std::string& out);
    // End the last line if it was incomplete, then append ".\r\n".
    void finish(std::string& out);

private:
    void end_line(std::string& out);
    size_t _limit;
    size_t _col = 0;     // bytes on the current output line
    bool _cr = false;    // the previous chunk ended in CR
};

// True if any byte has the high bit set: a body that needs 8BITMIME (or a
// downgrade), an envelope address or header that needs SMTPUTF8.
bool has_8bit(std::string_view s);

}  // namespace tern::smtp_client
