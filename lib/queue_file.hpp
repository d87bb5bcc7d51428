// queue_file.hpp - the queue file: its envelope data, the reader (fast
// envelope-only reads for listing and scheduling), and updates in place by
// the qmgr and delivery agents (per-recipient status, delivery results,
// retry schedule). The byte layout is in docs/queue.md; the writer that
// creates files is in queue_writer.hpp.
// SECURITY: a queue file may be truncated or damaged (crash, disk, a bad
// copy); the parser bounds-checks every length against the bytes present
// and against fixed format limits, and never believes a file without its
// end record. It is a fuzz target (parse_queue_file).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/fd.hpp"

namespace tern {

class queue_dir;

// Format limits: a file beyond them is invalid (the writer refuses to create one).
namespace queue_limits {
inline constexpr uint32_t max_recipients = 100000;
inline constexpr uint64_t max_envelope = 16u << 20;   // bytes of envelope records
inline constexpr uint32_t max_record = 1u << 20;      // one envelope or log record
inline constexpr uint32_t max_text = 4096;            // address, HELO, ENVID, ...
inline constexpr uint32_t max_reason = 8192;          // delivery result texts
inline constexpr uint32_t max_attributes = 1000;      // extension attributes
inline constexpr uint64_t max_log = 16u << 20;        // bytes of result records read
}  // namespace queue_limits

enum class body_type : uint8_t { unspecified = 0, seven_bit = 1, eight_bit_mime = 2, binary_mime = 3 };
enum class dsn_ret : uint8_t { unspecified = 0, full = 1, hdrs = 2 };
// DSN NOTIFY bits; 0 means the client gave no NOTIFY.
namespace dsn_notify {
inline constexpr uint8_t success = 1, failure = 2, delay = 4, never = 8;
}

// Per-recipient state, one byte at a fixed offset, flipped in place.
enum class rcpt_status : uint8_t {
    pending = 0,         // not final: deliver it
    done = 1,            // final, nothing owed
    failed = 2,          // final; a failure DSN (bounce) is still owed
    success_notify = 3,  // delivered/relayed/expanded; a success DSN is still owed
};
bool rcpt_status_final(rcpt_status s);

// What a delivery attempt did with a recipient (RFC 3464 Action, plus the
// reason mailq shows). Appended to the file's result log.
enum class rcpt_action : uint8_t { delayed = 1, failed = 2, delivered = 3, relayed = 4, expanded = 5 };
const char* rcpt_action_name(rcpt_action a);

struct rcpt_result {
    uint32_t index = 0;   // recipient number in the envelope
    int64_t time = 0;     // UNIX seconds
    rcpt_action action = rcpt_action::delayed;
    std::string status;   // enhanced status code, "4.4.1"
    std::string reason;   // one line: "host mx.example.net[192.0.2.1] said: 451 4.3.0 try later"
    std::string remote_mta;  // "dns; mx.example.net" (may be empty)
    std::string diagnostic;  // "smtp; 451 4.3.0 try later" (may be empty)
};

struct recipient {
    std::string address;
    std::string orcpt;   // ORCPT as "addr-type;address", xtext decoded; "" if none
    uint8_t notify = 0;  // dsn_notify bits
    rcpt_status status = rcpt_status::pending;
    std::optional<rcpt_result> last;  // latest result record, if the log was read
};

// RFC 2852 DELIVERBY.
struct deliver_by {
    int64_t deadline = 0;  // UNIX seconds (arrival + by-time); 0: no BY
    int64_t seconds = 0;   // by-time as given (may be negative with mode N)
    char mode = 0;         // 'R' return or 'N' notify
    bool trace = false;    // the T modifier
};

// Extension attributes: names are [a-z0-9_.-]{1,64}, values up to max_text bytes.
using queue_attr = std::pair<std::string, std::string>;

struct envelope {
    int64_t arrival_us = 0;   // arrival time, microseconds since the epoch
    std::string sender;       // "" is the null sender (shown as MAILER-DAEMON)
    std::vector<recipient> recipients;
    std::string client_address, client_name, helo, auth_user, protocol;
    body_type body = body_type::unspecified;
    bool smtputf8 = false;
    std::string envid;        // ENVID, xtext decoded
    dsn_ret ret = dsn_ret::unspecified;
    deliver_by by;
    std::vector<queue_attr> attributes;
    const std::string* attribute(std::string_view name) const;
};

// Retry state, rewritten in place (with its own checksum).
namespace sched_flags {
inline constexpr uint32_t forced_expire = 1;  // postsuper -f: return on the next attempt
inline constexpr uint32_t delay_warned = 2;   // delay_warning_time notice sent
}
struct schedule {
    int64_t next_try = 0;  // UNIX seconds; 0: as soon as possible
    uint32_t attempts = 0;
    uint32_t flags = 0;
};

// Everything a reader learns without touching the message body.
struct queue_file_info {
    envelope env;
    schedule sched;
    bool sched_damaged = false;   // the schedule block failed its checksum (treated as zero)
    uint64_t file_size = 0;
    uint64_t message_offset = 0;  // the message: header + body, LF line ends
    uint64_t message_length = 0;
    uint64_t header_length = 0;   // bytes up to and including the empty line (all of it if none)
    uint64_t line_count = 0;      // LF count: message_length + line_count = size with CRLF
    uint64_t log_offset = 0;      // result records start here
    uint64_t log_end = 0;         // end of the last intact result record
    size_t log_records = 0;
    bool log_truncated = false;   // a torn or damaged tail was ignored

    // Postfix's message_size: about what SMTP transmits (CRLF line ends).
    uint64_t message_size() const { return message_length + line_count; }
    size_t pending_count() const;
};

struct read_options {
    bool log = true;  // read the result records (mailq, qmgr); false: envelope only
};

// Parse a whole file image (the fuzz target entry point).
bool parse_queue_file(std::string_view data, queue_file_info& out, std::string& err, read_options opt = {});
// Read an open file with a few small preads; the message body is never read.
bool read_queue_file(int fd, queue_file_info& out, std::string& err, read_options opt = {});

// Read [offset, offset+len) of an open file (e.g. the message); false on a short read.
bool read_file_range(int fd, uint64_t offset, uint64_t len, std::string& out, std::string& err);

// An existing queue file opened for update under the queue lock.
class queue_file {
public:
    enum class open_status { ok, not_found, locked, corrupt, error };

    // Open the file with this ID in `queue`, take the queue lock (waiting
    // for it when wait), make sure the path still names the file we locked
    // (it may have been moved or deleted meanwhile: then not_found), and
    // read it. On corrupt the file is left where it is (callers move it to
    // corrupt/). err explains anything but ok.
    static std::unique_ptr<queue_file> open(const queue_dir& q, std::string_view queue, std::string_view id,
                                            bool wait, open_status& st, std::string& err,
                                            read_options opt = {});

    const std::string& id() const { return _id; }
    const std::string& queue() const { return _queue; }
    const std::string& path() const { return _path; }
    int fd() const { return _fd.get(); }
    const queue_file_info& info() const { return _info; }

    // Flip one recipient's status byte; with sync, fdatasync before returning
    // (a delivery is recorded durably before it is reported).
    bool set_status(size_t index, rcpt_status s, std::string& err, bool sync = true);
    // Append a result record (reason texts are made one-line printable).
    bool add_result(const rcpt_result& r, std::string& err, bool sync = true);
    // Rewrite the retry schedule.
    bool set_schedule(const schedule& s, std::string& err, bool sync = true);
    // Drop all result records; refused while a DSN is owed (status failed or
    // success_notify), whose text lives in those records.
    bool reset_log(std::string& err, bool sync = true);
    bool sync(std::string& err);
    // The message bytes (header + body), at most max bytes.
    bool read_message(std::string& out, std::string& err, uint64_t max = UINT64_MAX) const;

    // After a move by the caller (queue_dir::move): update the recorded place.
    void moved_to(std::string_view queue, std::string path);

private:
    queue_file() = default;
    unique_fd _fd;
    std::string _id, _queue, _path;
    queue_file_info _info;
    bool _log_read = false;  // _info knows where the result log ends
};

// Internal pieces shared with the writer (queue_writer.cpp).
namespace queue_format {
inline constexpr char magic[8] = {'T', 'E', 'R', 'N', 'Q', 'F', '\r', '\n'};
inline constexpr uint16_t version = 1;
inline constexpr size_t header_size = 64;
inline constexpr size_t end_size = 40;
inline constexpr uint64_t length_unset = UINT64_MAX;
inline constexpr size_t sched_offset = 40;  // schedule block: 40..60
uint32_t crc32c(const void* data, size_t len, uint32_t crc = 0);
// Envelope records for env (status bytes excluded). False with a reason if
// a field is out of limits or contains CR, LF or NUL.
bool encode_envelope(const envelope& env, std::string& out, std::string& err);
// The fixed header for a file with these sizes and envelope CRC.
std::string encode_header(uint32_t rcpt_count, uint64_t env_len, uint64_t msg_len, uint32_t env_crc,
                          const schedule& sched);
std::string encode_schedule(const schedule& s);  // 20 bytes at sched_offset
std::string encode_end(uint64_t msg_len, uint64_t lines, uint64_t header_len);
std::string encode_result(const rcpt_result& r);
// One-line printable form of a result text (CR, LF, TAB become spaces; other controls '?').
std::string clean_text(std::string_view s, size_t max);
}  // namespace queue_format

}  // namespace tern
