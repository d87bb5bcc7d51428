// reply.hpp - SMTP replies as the client reads them: an incremental parser
// for (multi-line) replies with RFC 2034 enhanced status codes, and the EHLO
// capability list. Used by the smtp-client protocol engine.
// SECURITY: replies come from remote servers; every line and every reply is
// bounded (smtp_reply_line_limit, smtp_reply_line_count_limit) and anything
// that is not "NNN-text" / "NNN text" with one code is a protocol error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::smtp_client {

struct smtp_reply {
    int code = 0;                    // 250
    std::string enhanced;            // "2.1.5" when the server sent one, else ""
    std::vector<std::string> lines;  // the text of each line, after "NNN-" / "NNN "
    std::vector<std::string> raw;    // each line as received (without CRLF)

    int klass() const { return code / 100; }
    bool positive() const { return klass() == 2; }
    // Every line as received, joined by single spaces (Postfix's style:
    // "550-5.1.1 no such 550 5.1.1 user"), made printable.
    std::string text() const;
    // The enhanced code, or the default for the reply class ("4.0.0").
    std::string dsn() const;
};

// The enhanced status code at the start of text if it is one whose class
// matches `klass` ("5.1.1 no such user" -> "5.1.1"); "" otherwise.
std::string enhanced_code_prefix(std::string_view text, int klass);

class reply_parser {
public:
    enum class status { need_more, done, error };
    reply_parser(size_t max_line = 4096, size_t max_lines = 100) : _max_line(max_line), _max_lines(max_lines) {}

    // Consume bytes up to the end of one reply (or an error); `consumed`
    // tells how many were used. After done, take() the reply.
    status feed(std::string_view data, size_t& consumed);
    smtp_reply take();
    const std::string& error() const { return _error; }
    void reset();

private:
    status line(std::string_view l);
    size_t _max_line, _max_lines;
    std::string _partial;
    smtp_reply _reply;
    std::string _error;
    bool _failed = false;
    bool _done = false;
};

struct capabilities {
    std::string greeting_name;     // first word of the EHLO reply's first line
    bool esmtp = false;            // EHLO was accepted
    bool pipelining = false;
    bool starttls = false;
    bool eightbitmime = false;
    bool dsn = false;
    bool smtputf8 = false;
    bool size = false;
    uint64_t size_limit = 0;       // SIZE n; 0: none announced
    bool chunking = false;
    std::vector<std::string> auth; // mechanisms, upper case
};

// Capabilities from a positive EHLO reply.
capabilities parse_ehlo(const smtp_reply& r);

}  // namespace tern::smtp_client
