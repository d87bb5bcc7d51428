// mailbox_deliver.cpp - delivery into maildir and mbox (local-delivery calls
// deliver_maildir/deliver_mbox), maildir file names and the mbox append
// primitive that APPEND shares. Success is returned only once the message
// and its directory entry are on disk.
// SECURITY: runs as the recipient; refuses to append to an mbox that is not
// a regular file or that is a symlink (O_NOFOLLOW).
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mailbox_impl.hpp"
#include "lib/mailbox_lock.hpp"
#include "lib/mbox_format.hpp"

namespace tern::mailbox {
namespace {

std::atomic<uint64_t> delivery_counter{0};

const std::string& escaped_hostname() {
    static const std::string host = [] {
        char buf[256] = {0};
        if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) std::strcpy(buf, "localhost");
        std::string out;
        for (const char* p = buf; *p; p++) {
            if (*p == '/')
                out += "\\057";
            else if (*p == ':')
                out += "\\072";
            else if (*p == ',')
                out += "\\054";
            else if (static_cast<unsigned char>(*p) <= ' ')
                out += '_';
            else
                out += *p;
        }
        return out;
    }();
    return host;
}

}  // namespace

status status::from_errno(std::string what) {
    int e = errno;
    return fail(e == 0 ? EIO : e, what + ": " + errno_text(e));
}

uint64_t wire_size_of(std::string_view data) {
    uint64_t n = data.size();
    for (size_t i = 0; i < data.size(); i++)
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) n++;
    return n;
}

message_reader string_reader(std::string_view data) {
    auto pos = std::make_shared<size_t>(0);
    return [data, pos](char* buf, size_t len) -> ssize_t {
        size_t n = std::min(len, data.size() - *pos);
        std::memcpy(buf, data.data() + *pos, n);
        *pos += n;
        return ssize_t(n);
    };
}

// ---------------------------------------------------------------- maildir names

std::string maildir_unique_base() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t rnd = 0;
    if (::getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) rnd = uint32_t(ts.tv_nsec);
    char buf[128];
    std::snprintf(buf, sizeof buf, "%lld.M%ldP%dQ%lluR%08x.", static_cast<long long>(ts.tv_sec), ts.tv_nsec / 1000,
                  int(::getpid()), static_cast<unsigned long long>(++delivery_counter), rnd);
    return buf + escaped_hostname();
}

std::string flag_letters(uint32_t flags, uint32_t keywords) {
    std::string s;
    if (flags & flag::draft) s += 'D';
    if (flags & flag::flagged) s += 'F';
    if (flags & flag::passed) s += 'P';
    if (flags & flag::answered) s += 'R';
    if (flags & flag::seen) s += 'S';
    if (flags & flag::deleted) s += 'T';
    for (int i = 0; i < max_keywords; i++)
        if (keywords & (1u << i)) s += char('a' + i);
    return s;
}

void parse_flag_letters(std::string_view letters, uint32_t& flags, uint32_t& keywords) {
    flags = keywords = 0;
    for (char c : letters) {
        switch (c) {
        case 'D': flags |= flag::draft; break;
        case 'F': flags |= flag::flagged; break;
        case 'P': flags |= flag::passed; break;
        case 'R': flags |= flag::answered; break;
        case 'S': flags |= flag::seen; break;
        case 'T': flags |= flag::deleted; break;
        default:
            if (c >= 'a' && c <= 'z') keywords |= 1u << (c - 'a');
        }
    }
}

maildir_name split_maildir_name(std::string_view file) {
    maildir_name n;
    size_t colon = file.find(':');
    n.base = file.substr(0, colon);
    if (colon != std::string_view::npos && file.substr(colon + 1).starts_with("2,")) {
        n.has_info = true;
        n.letters = file.substr(colon + 3);
    }
    return n;
}

bool sizes_from_name(std::string_view base, uint64_t& size, uint64_t& wire) {
    bool s = false, w = false;
    size_t pos = 0;
    while ((pos = base.find(',', pos)) != std::string_view::npos) {
        pos++;
        if (pos + 2 > base.size() || base[pos + 1] != '=') continue;
        char key = base[pos];
        size_t end = base.find(',', pos);
        std::string_view v = base.substr(pos + 2, end == std::string_view::npos ? std::string_view::npos : end - pos - 2);
        uint64_t n = 0;
        bool ok = !v.empty();
        for (char c : v) {
            if (c < '0' || c > '9') ok = false;
            n = n * 10 + uint64_t(c - '0');
        }
        if (!ok) continue;
        if (key == 'S') size = n, s = true;
        if (key == 'W') wire = n, w = true;
    }
    return s && w;
}

status make_maildir(const std::string& dir) {
    // new/ last: a reader that finds new/ (the usual "is it a maildir" test)
    // finds cur/ and tmp/ too
    for (const char* sub : {"/cur", "/tmp", "/new"}) {
        if (!make_dirs(dir + sub, 0700)) return status::from_errno("mkdir " + dir + sub);
    }
    std::string base = basename_of(dir);
    if (base.size() > 1 && base[0] == '.') {
        std::string marker = dir + "/maildirfolder";
        unique_fd fd(::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        if (!fd) return status::from_errno("create " + marker);
    }
    return status::ok();
}

status write_tmp_message(const std::string& dir, const std::string& base, const message_reader& reader,
                         int64_t mtime, uint64_t& size, uint64_t& wire) {
    std::string tmp = dir + "/tmp/" + base;
    unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return status::from_errno("create " + tmp);
    size = wire = 0;
    bool prev_cr = false;
    char buf[65536];
    status s;
    for (;;) {
        ssize_t n = reader(buf, sizeof buf);
        if (n < 0) {
            s = status::from_errno("read message");
            break;
        }
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) {
            wire += (buf[i] == '\n' && !prev_cr) ? 2 : 1;
            prev_cr = buf[i] == '\r';
        }
        size += uint64_t(n);
        if (!write_all(fd.get(), buf, size_t(n))) {
            s = status::from_errno("write " + tmp);
            break;
        }
    }
    if (s && mtime > 0) {
        struct timespec ts[2] = {{static_cast<time_t>(mtime), 0}, {static_cast<time_t>(mtime), 0}};
        if (::futimens(fd.get(), ts) != 0) s = status::from_errno("set time of " + tmp);
    }
    if (s && ::fsync(fd.get()) != 0) s = status::from_errno("fsync " + tmp);
    if (s && ::close(fd.release()) != 0) s = status::from_errno("close " + tmp);
    if (!s) ::unlink(tmp.c_str());
    return s;
}

// ---------------------------------------------------------------- maildir delivery

status deliver_maildir(const std::string& dir, std::string_view message, uint32_t flags, delivered* out) {
    return deliver_maildir(dir, string_reader(message), flags, out);
}

status deliver_maildir(const std::string& dir, const message_reader& reader, uint32_t flags, delivered* out) {
    if (status s = make_maildir(dir); !s) return s;
    std::string base = maildir_unique_base();
    uint64_t size = 0, wire = 0;
    if (status s = write_tmp_message(dir, base, reader, 0, size, wire); !s) return s;
    std::string tmp = dir + "/tmp/" + base;
    std::string final_base = base + ",S=" + std::to_string(size) + ",W=" + std::to_string(wire);
    flags &= flag::all;
    std::string sub = flags ? "/cur/" : "/new/";
    std::string dest = dir + sub + final_base + (flags ? ":2," + flag_letters(flags, 0) : "");
    // link() refuses to replace an existing name, which rename() would do silently.
    if (::link(tmp.c_str(), dest.c_str()) != 0) {
        if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP) {
            status s = status::from_errno("link " + dest);
            ::unlink(tmp.c_str());
            return s;
        }
        if (::rename(tmp.c_str(), dest.c_str()) != 0) {
            status s = status::from_errno("rename " + dest);
            ::unlink(tmp.c_str());
            return s;
        }
    } else {
        ::unlink(tmp.c_str());
    }
    if (!fsync_dir(dir + sub)) {
        status s = status::from_errno("fsync " + dir + sub);
        ::unlink(dest.c_str());
        return s;
    }
    if (out) *out = {dest, size, wire};
    return status::ok();
}

// ---------------------------------------------------------------- mbox delivery

std::string mbox_padding(int fd, uint64_t size) {
    if (size == 0) return "";
    char tail[2] = {0, 0};
    size_t want = size >= 2 ? 2 : 1;
    ssize_t n = ::pread(fd, tail, want, off_t(size - want));
    if (n != ssize_t(want)) return "\n\n";
    if (want == 1) return tail[0] == '\n' ? "\n" : "\n\n";
    if (tail[0] == '\n' && tail[1] == '\n') return "";
    return tail[1] == '\n' ? "\n" : "\n\n";
}

status mbox_open_locked(const std::string& path, const limits& lim, bool create, unique_fd& fd, struct stat& st,
                        dotlock& dl) {
    std::string parent = dirname_of(path);
    if (create && !make_dirs(parent, 0700)) return status::from_errno("mkdir " + parent);
    if (!dl.acquire(path, lim.lock_timeout, lim.stale_lock_time)) {
        if (errno == EAGAIN) return status::fail(EAGAIN, path + ".lock: lock timeout");
        return status::from_errno("dotlock " + path);
    }
    for (int attempt = 0; attempt < 10; attempt++) {
        int oflags = O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0);
        fd.reset(::open(path.c_str(), oflags, 0600));
        if (!fd) return status::from_errno("open " + path);
        if (::fstat(fd.get(), &st) != 0) return status::from_errno("stat " + path);
        if (!S_ISREG(st.st_mode)) return status::fail(EPERM, path + ": not a regular file");
        if (!ofd_lock(fd.get(), true, lim.lock_timeout)) {
            if (errno == EAGAIN) return status::fail(EAGAIN, path + ": lock timeout");
            return status::from_errno("lock " + path);
        }
        // A rewriter may have replaced the file while we waited for the lock.
        struct stat now;
        if (::stat(path.c_str(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
            if (::fstat(fd.get(), &st) != 0) return status::from_errno("stat " + path);
            return status::ok();
        }
    }
    return status::fail(EAGAIN, path + ": file keeps being replaced");
}

status mbox_append_locked(int fd, uint64_t orig_size, const std::string& path, std::string_view bytes,
                          bool do_fsync) {
    status s;
    if (!write_all(fd, bytes)) s = status::from_errno("write " + path);
    if (s && do_fsync && ::fsync(fd) != 0) s = status::from_errno("fsync " + path);
    if (!s) {
        // Never leave half a message: cut the file back to where it was.
        if (::ftruncate(fd, off_t(orig_size)) != 0 || ::fsync(fd) != 0)
            s.reason += "; truncating back failed: " + errno_text();
    }
    return s;
}

status deliver_mbox(const std::string& path, std::string_view sender, std::string_view message, const limits& lim,
                    delivered* out) {
    return deliver_mbox(path, sender, string_reader(message), lim, out);
}

status deliver_mbox(const std::string& path, std::string_view sender, const message_reader& reader,
                    const limits& lim, delivered* out) {
    // Read and quote the message before taking the lock: the lock is held
    // only for the append itself.
    std::string body = mbox::from_line(sender, ::time(nullptr));
    mbox::quoter q;
    uint64_t size = 0, wire = 0;
    bool prev_cr = false, last_nl = true;
    char buf[65536];
    for (;;) {
        ssize_t n = reader(buf, sizeof buf);
        if (n < 0) return status::from_errno("read message");
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) {
            wire += (buf[i] == '\n' && !prev_cr) ? 2 : 1;
            prev_cr = buf[i] == '\r';
        }
        size += uint64_t(n);
        last_nl = buf[n - 1] == '\n';
        q.feed(std::string_view(buf, size_t(n)), body);
    }
    q.finish(body);
    if (!last_nl) {
        size++;
        wire += 2;
    }
    body += '\n';

    dotlock dl;
    unique_fd fd;
    struct stat st;
    if (status s = mbox_open_locked(path, lim, true, fd, st, dl); !s) return s;
    uint64_t orig = uint64_t(st.st_size);
    std::string data = mbox_padding(fd.get(), orig) + body;
    if (status s = mbox_append_locked(fd.get(), orig, path, data, true); !s) return s;
    if (out) *out = {path, size, wire};
    return status::ok();
}

}  // namespace tern::mailbox
