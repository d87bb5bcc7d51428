// message.hpp - the message of one transaction on its way into a queue
// file: decoded data (LF line ends) is collected until the header ends,
// then our Received header, restriction PREPENDs, the header as sent and
// (for submissions) a missing Message-ID and Date go to the queue writer,
// followed by the body in large pieces. Size, header size and hop limits
// are checked as the data arrives; once one is hit, nothing more is kept.
// Called by the DATA and BDAT handlers of session.
// SECURITY: memory is bounded by header_size_limit plus one write buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/cleanup.hpp"
#include "lib/queue_writer.hpp"

namespace tern::smtpd {

class session;

class message {
public:
    enum class status { ok, too_big, header_too_big, too_many_hops, write_failed };

    // w: a new queue writer with the envelope filled in.
    message(session& s, std::unique_ptr<queue_writer> w);

    // Where the decoder appends; nullptr once the data is being discarded.
    std::string* sink() { return _st == status::ok ? &_buf : nullptr; }
    // After each feed: wire_size is the size so far with CRLF line ends.
    void absorb(uint64_t wire_size);
    // End of data: flush everything and write the end record. False when
    // the message cannot be queued (status() says why).
    bool complete(uint64_t wire_size);
    status state() const { return _st; }
    // The reply for a failed message: code, dsn, text.
    void failure_reply(int& code, std::string& dsn, std::string& text) const;
    const std::string& id() const { return _w->id(); }

    // Content check (smtpd_content_check_service): keep the whole message in
    // memory instead of writing it, up to limit bytes. A message that grows
    // past the limit is written out as usual and not checked.
    void hold(uint64_t limit) { _hold = true, _hold_limit = limit; }
    // After complete(): the message is held and waits for release().
    bool held() const { return _hold && _st == status::ok; }
    // The held message as it will be queued (our Received and PREPENDs first).
    std::string held_text() const { return _prefix + _buf; }
    // Write the held message with these header lines after the prefix, then
    // the end record. False when it cannot be queued (status() says why).
    bool release(const std::vector<std::string>& headers);
    const std::string& message_id() const { return _message_id; }
    std::unique_ptr<queue_writer> take_writer() { return std::move(_w); }
    void abort();

private:
    void fail(status st);
    bool header_done(const header_end& e);
    void write(std::string_view data);

    session& _s;
    std::unique_ptr<queue_writer> _w;
    status _st = status::ok;
    std::string _buf;
    bool _in_header = true;
    size_t _scan = 0;
    std::string _message_id;
    bool _hold = false;
    uint64_t _hold_limit = 0;
    std::string _prefix;  // held: Received and PREPEND lines, not yet written
    void stop_holding();
};

}  // namespace tern::smtpd
