// queue_writer.cpp - see queue_writer.hpp.
#include "lib/queue_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/queue_dir.hpp"

namespace tern {
namespace qf = queue_format;

namespace {
constexpr size_t flush_at = 64 * 1024;
constexpr int create_attempts = 100;

bool pwrite_all(int fd, std::string_view data, uint64_t off) {
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
        off += static_cast<uint64_t>(n);
    }
    return true;
}
// tmp/ missing (a tree made before it existed): create it like incoming/.
bool make_tmp_dir(const queue_dir& q) {
    struct stat in;
    std::string tmp = q.dir(queue_names::tmp);
    if (::stat(q.dir(queue_names::incoming).c_str(), &in) != 0) return false;
    if (::mkdir(tmp.c_str(), 0700) != 0) return errno == EEXIST;
    if (::geteuid() == 0 && ::chown(tmp.c_str(), in.st_uid, in.st_gid) != 0) return false;
    return true;
}

}  // namespace

std::unique_ptr<queue_writer> queue_writer::create(const queue_dir& q, std::string& err, target t) {
    std::unique_ptr<queue_writer> w(new queue_writer());
    w->_maildrop = t == target::maildrop;
    for (int attempt = 0; attempt < create_attempts; ++attempt) {
        std::string id = q.ids().next();
        std::string temp, final;
        if (w->_maildrop) {
            temp = q.dir(queue_names::maildrop) + "/." + id;
            final = q.dir(queue_names::maildrop) + "/" + id;
        } else {
            temp = q.dir(queue_names::tmp) + "/" + id;
            final = q.path(queue_names::incoming, id);
        }
        unique_fd fd(::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd && errno == ENOENT && !w->_maildrop && make_tmp_dir(q)) {
            fd.reset(::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        }
        if (!fd) {
            if (errno == EEXIST) continue;  // taken (per-process IDs): draw again
            err = "cannot create queue file " + temp + ": " + errno_text();
            return nullptr;
        }
        // Hold the lock from the start: postsuper -p removes only unlocked temporaries.
        if (queue_lock(fd.get(), false) != queue_lock_result::locked) {
            int e = errno;
            ::unlink(temp.c_str());
            err = "cannot lock queue file " + temp + ": " + errno_text(e);
            return nullptr;
        }
        w->_id = std::move(id);
        w->_temp = std::move(temp);
        w->_final = std::move(final);
        w->_final_dir = dirname_of(w->_final);
        w->_fd = std::move(fd);
        w->_env.arrival_us = static_cast<int64_t>(decode_queue_id(w->_id).value_or(now_micros()));
        return w;
    }
    err = "cannot create a queue file: no free queue ID after " + std::to_string(create_attempts) + " attempts";
    return nullptr;
}

queue_writer::~queue_writer() {
    if (!_committed) abort();
}

bool queue_writer::out_of_space() const { return _errno == ENOSPC || _errno == EDQUOT || _errno == EFBIG; }

void queue_writer::fail(int err, std::string why) {
    if (_errno) return;  // keep the first reason
    _errno = err ? err : EIO;
    _error = std::move(why);
}

void queue_writer::abort() {
    if (_committed) return;
    if (_linked) unlink_final();
    if (!_temp.empty()) ::unlink(_temp.c_str());
    _temp.clear();
    _fd.reset();
    _buf.clear();
    _buf.shrink_to_fit();
    if (!_errno) fail(ECANCELED, "aborted");
}

bool queue_writer::write_prologue() {
    // a caller that replaced the whole envelope keeps the ID's time
    if (_env.arrival_us == 0) _env.arrival_us = static_cast<int64_t>(decode_queue_id(_id).value_or(now_micros()));
    std::string env, err;
    if (!qf::encode_envelope(_env, env, err)) {
        fail(EINVAL, "bad envelope: " + err);
        return false;
    }
    _env_len = env.size();
    _env_crc = qf::crc32c(env.data(), env.size());
    _buf = qf::encode_header(static_cast<uint32_t>(_env.recipients.size()), _env_len, qf::length_unset, _env_crc, {});
    // status bytes: every recipient pending, except ones the caller marked done
    for (const auto& r : _env.recipients) _buf.push_back(static_cast<char>(r.status));
    _buf += env;
    _prologue = true;
    return true;
}

bool queue_writer::flush_buffer() {
    if (_buf.empty()) return true;
    if (!write_all(_fd.get(), _buf)) {
        int e = errno;
        fail(e, "write " + _temp + ": " + errno_text(e));
        return false;
    }
    _buf.clear();
    return true;
}

bool queue_writer::write(std::string_view data) {
    if (_errno || !_fd) return false;
    if (_finished) {
        fail(EINVAL, "write after finish");
        return false;
    }
    if (!_prologue && !write_prologue()) return false;
    if (!_header_done) {
        for (size_t i = 0; i < data.size(); ++i) {
            if (data[i] != '\n') {
                _prev_lf = false;
                continue;
            }
            if (_prev_lf) {
                _header_len = _msg_len + i + 1;
                _header_done = true;
                break;
            }
            _prev_lf = true;
        }
    }
    _lines += static_cast<uint64_t>(std::count(data.begin(), data.end(), '\n'));
    _msg_len += data.size();
    if (_buf.size() + data.size() > flush_at) {
        if (!flush_buffer()) return false;
        if (data.size() > flush_at) {
            if (!write_all(_fd.get(), data)) {
                int e = errno;
                fail(e, "write " + _temp + ": " + errno_text(e));
                return false;
            }
            return true;
        }
    }
    _buf.append(data);
    return true;
}

bool queue_writer::finish() {
    if (_finished) return !_errno;
    if (_errno || !_fd) return false;
    if (!_prologue && !write_prologue()) return false;
    if (!_header_done) _header_len = _msg_len;
    _buf += qf::encode_end(_msg_len, _lines, _header_len);
    if (!flush_buffer()) return false;
    // now the header may promise the message length
    std::string head = qf::encode_header(static_cast<uint32_t>(_env.recipients.size()), _env_len, _msg_len, _env_crc, {});
    if (!pwrite_all(_fd.get(), std::string_view(head).substr(0, qf::sched_offset), 0)) {
        int e = errno;
        fail(e, "write " + _temp + ": " + errno_text(e));
        return false;
    }
    if (_maildrop && ::fchmod(_fd.get(), 0644) != 0) {
        // pickup (mail_owner) must be able to read what a local user dropped
        int e = errno;
        fail(e, "chmod " + _temp + ": " + errno_text(e));
        return false;
    }
    _finished = true;
    return true;
}

int queue_writer::sync_file() {
    if (!_fd) return EBADF;
    if (::fsync(_fd.get()) != 0) return errno;
    return 0;
}

int queue_writer::link_final() {
    if (::renameat2(AT_FDCWD, _temp.c_str(), AT_FDCWD, _final.c_str(), RENAME_NOREPLACE) != 0) {
        int e = errno;
        if (e != EINVAL && e != ENOSYS) return e;
        if (::link(_temp.c_str(), _final.c_str()) != 0) return errno;
        ::unlink(_temp.c_str());
    }
    _linked = true;
    _temp.clear();
    return 0;
}

int queue_writer::sync_final_dir() {
    unique_fd d(::open(_final_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) {
        // sendmail may create in maildrop/ without being allowed to read it:
        // flush the whole file system instead
        if (errno == EACCES && _fd) return ::syncfs(_fd.get()) == 0 ? 0 : errno;
        return errno;
    }
    return ::fsync(d.get()) == 0 ? 0 : errno;
}

void queue_writer::unlink_final() {
    if (_linked) ::unlink(_final.c_str());
    _linked = false;
}

void queue_writer::mark_committed() {
    _committed = true;
    _fd.reset();
    _buf.clear();
    _buf.shrink_to_fit();
}

bool queue_writer::commit(std::string& err, bool sync) {
    auto failed_with = [&](int e, const std::string& what) {
        fail(e, what + ": " + errno_text(e));
        err = _error;
        abort();
        return false;
    };
    if (!finish()) {
        err = _error;
        abort();
        return false;
    }
    if (int e = sync ? sync_file() : 0) return failed_with(e, "fsync " + _temp);
    if (int e = link_final()) return failed_with(e, "rename into " + _final_dir);
    if (int e = sync ? sync_final_dir() : 0) return failed_with(e, "fsync " + _final_dir);
    mark_committed();
    return true;
}

}  // namespace tern
