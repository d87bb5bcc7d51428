// queue_writer.hpp - creating a queue file: envelope, message data in
// chunks, end record, then the commit that makes it durable and visible.
// A file is written under a temporary name (tmp/ID, or maildrop/.ID for
// sendmail) while it is incomplete; commit = fsync the file, rename it
// without replacing into incoming/ (or maildrop/), fsync that directory.
// Only then may smtpd answer 250. queue_committer (queue_commit.hpp) does
// the same for many files at once, off the event loop.
// Called by smtpd (one writer per DATA/BDAT transaction), pickup, sendmail
// and the qmgr (bounces). Errors are values: ENOSPC, EDQUOT and EFBIG mean
// "insufficient storage" (452), anything else a local error (451); the
// temporary file is removed either way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lib/fd.hpp"
#include "lib/queue_file.hpp"

namespace tern {

class queue_dir;

class queue_writer {
public:
    enum class target { incoming, maildrop };

    // A new file with a fresh ID, created with O_EXCL and locked. The
    // envelope's arrival time is preset to the ID's time.
    static std::unique_ptr<queue_writer> create(const queue_dir& q, std::string& err,
                                                target t = target::incoming);
    ~queue_writer();  // removes the file unless committed
    queue_writer(const queue_writer&) = delete;
    queue_writer& operator=(const queue_writer&) = delete;

    const std::string& id() const { return _id; }
    // Fill this before the first write(); it is frozen after that.
    envelope& env() { return _env; }

    // Message bytes (header and body, LF line ends). False once anything
    // failed; error() and error_number() tell why.
    bool write(std::string_view data);
    // Write the end record. Not durable yet.
    bool finish();
    // finish() if needed, then make the file durable and visible (see top).
    // sync=false skips the fsyncs: only for test fixtures and benchmarks.
    bool commit(std::string& err, bool sync = true);
    // Give up: remove the file.
    void abort();

    bool failed() const { return _errno != 0; }
    int error_number() const { return _errno; }
    const std::string& error() const { return _error; }
    // ENOSPC, EDQUOT or EFBIG: answer 452 4.3.1 rather than 451 4.3.0.
    bool out_of_space() const;
    bool finished() const { return _finished; }
    bool committed() const { return _committed; }
    uint64_t message_length() const { return _msg_len; }
    uint64_t message_size() const { return _msg_len + _lines; }  // with CRLF line ends

    int fd() const { return _fd.get(); }
    const std::string& temp_path() const { return _temp; }
    const std::string& final_path() const { return _final; }

    // Commit steps, for queue_committer's threads (callers use commit()).
    int sync_file();                  // fsync: 0 or errno
    int link_final();                 // rename without replace: 0 or errno
    int sync_final_dir();             // fsync of the final directory: 0 or errno
    void unlink_final();              // undo link_final after a failed directory sync
    void mark_committed();            // release the file (closes and unlocks it)
    void fail(int err, std::string why);

private:
    queue_writer() = default;
    bool flush_buffer();
    bool write_prologue();

    std::string _id, _temp, _final, _final_dir;
    unique_fd _fd;
    envelope _env;
    std::string _buf;
    bool _prologue = false, _finished = false, _committed = false, _linked = false;
    uint32_t _env_crc = 0;
    uint64_t _env_len = 0;
    uint64_t _msg_len = 0, _lines = 0, _header_len = 0;
    bool _header_done = false, _prev_lf = true;
    bool _maildrop = false;
    int _errno = 0;
    std::string _error;
};

}  // namespace tern
