// mbox_format.hpp - the mbox file format (mboxrd): From_ lines, >From
// quoting, splitting a file into messages, the Status/X-Status/X-Keywords
// headers that carry flags, and the content a reader sees. Used by the
// mailbox library (delivery, mbox folders) and its tests.
// SECURITY: mbox files may come from anywhere (foreign MUAs, old spools);
// Content-Length is never trusted, only From_ lines after a blank line split.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::mailbox::mbox {

// Streaming quoter for delivery: every line matching ^>*From gets one more
// '>'. Input may be cut anywhere; finish() ends an unterminated last line.
class quoter {
public:
    void feed(std::string_view in, std::string& out);
    void finish(std::string& out);

private:
    std::string _held;  // start of the current line while it may still be ">*From "
    bool _line_start = true;
    bool _last_nl = true;
};
// Whole-buffer helpers (the quoter, and the reverse: drop one '>' of ^>+From ).
std::string quote(std::string_view in);
std::string unquote(std::string_view in);

// "From SENDER Www Mmm dd hh:mm:ss yyyy\n" in UTC; an empty sender is MAILER-DAEMON.
std::string from_line(std::string_view sender, int64_t when);
// The date of a From_ line (asctime form, optionally with a zone before the year); 0 if none.
int64_t parse_from_date(std::string_view line);

// Start offsets of the messages of data[from..]: data[from] must start
// "From "; the next message starts after a blank line with a "From " line.
std::vector<uint64_t> split(std::string_view data, uint64_t from);

// What a message (From_ line through its trailing blank line) holds.
struct info {
    uint64_t size = 0, wire_size = 0;  // of the content as presented
    uint64_t fp = 0;                   // fingerprint: hash of the first KiB of content and its size
    uint32_t flags = 0;                // from Status/X-Status (flag:: bits)
    bool old = false;                  // Status has O: seen by a reader, not \Recent
    std::vector<std::string> keywords; // X-Keywords
    int64_t date = 0;                  // From_ line date
};
info analyze(std::string_view raw);
// The message as delivered: no From_ line, unquoted, without the flag headers
// (Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase) and the separator.
std::string present(std::string_view raw);
// The raw message with its flag headers replaced, ending with the blank separator line.
std::string rewrite(std::string_view raw, uint32_t flags, const std::vector<std::string>& keywords, bool old);

}  // namespace tern::mailbox::mbox
