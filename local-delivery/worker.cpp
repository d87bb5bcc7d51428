// worker.cpp - see worker.hpp.
#include "local-delivery/worker.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "lib/net.hpp"
#include "lib/strutil.hpp"
#include "local-delivery/store.hpp"

namespace tern::local {

namespace {

const char* kind_name(op_kind k) {
    switch (k) {
    case op_kind::maildir: return "maildir";
    case op_kind::mbox: return "mbox";
    case op_kind::file: return "file";
    }
    return "?";
}

store_result perform(const delivery_op& op, int queue_fd, const worker_settings& s) {
    message_source src;
    src.fd = queue_fd;
    src.offset = op.offset;
    src.length = op.length;
    src.prefix = op.prefix;
    store_result r;
    switch (op.kind) {
    case op_kind::maildir: r = store_maildir(op.dest, src, s.mailbox_size_limit); break;
    case op_kind::mbox: r = store_mbox(op.dest, op.sender, src, s.mbox_limits, s.mailbox_size_limit, false); break;
    case op_kind::file:
        if (!op.dest.empty() && op.dest.back() == '/') r = store_maildir(op.dest, src, s.mailbox_size_limit);
        else r = store_mbox(op.dest, op.sender, src, s.mbox_limits, s.mailbox_size_limit, true);
        break;
    }
    if (!r.status.empty() && r.status[0] == '2') r.text += op.note;
    return r;
}

// One request: the datagram and the descriptor that came with it.
store_result serve_one(const char* data, size_t len, bool truncated, unique_fd queue_fd, const worker_settings& s) {
    if (truncated) return {"4.3.0", "delivery request too large"};
    if (!queue_fd) return {"4.3.0", "delivery request without its queue file"};
    attr_parser p;
    size_t used = 0;
    if (p.feed(std::string_view(data, len), used) != attr_parser::status::done)
        return {"4.3.0", "malformed delivery request: " + (p.error().empty() ? "incomplete" : p.error())};
    std::string err;
    auto op = delivery_op::decode(p.take(), err);
    if (!op) return {"4.3.0", "malformed delivery request: " + err};
    return perform(*op, queue_fd.get(), s);
}

}  // namespace

bool become(uid_t uid, gid_t gid, gid_t extra_gid, std::string& err) {
    gid_t groups[2] = {gid, extra_gid};
    int n = extra_gid != static_cast<gid_t>(-1) && extra_gid != gid ? 2 : 1;
    if (::setgroups(static_cast<size_t>(n), groups) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        err = std::string("cannot switch to uid ") + std::to_string(uid) + ": " + std::strerror(errno);
        return false;
    }
    if (uid != 0 && ::setuid(0) == 0) {
        err = "could regain root after dropping privileges";
        return false;
    }
    return true;
}

attr_list delivery_op::encode() const {
    attr_list a;
    a.add("kind", kind_name(kind));
    a.add("dest", dest);
    a.add("sender", sender);
    a.add("prefix", prefix);
    a.add("offset", std::to_string(offset));
    a.add("length", std::to_string(length));
    a.add("note", note);
    return a;
}

std::optional<delivery_op> delivery_op::decode(const attr_list& a, std::string& err) {
    delivery_op op;
    std::string k = a.get("kind");
    if (k == "maildir") op.kind = op_kind::maildir;
    else if (k == "mbox") op.kind = op_kind::mbox;
    else if (k == "file") op.kind = op_kind::file;
    else {
        err = "unknown kind " + printable(k, 40);
        return std::nullopt;
    }
    op.dest = a.get("dest");
    if (op.dest.empty() || op.dest[0] != '/') {
        err = "destination is not an absolute path";
        return std::nullopt;
    }
    op.sender = a.get("sender");
    op.prefix = a.get("prefix");
    op.note = a.get("note");
    auto off = parse_u64(a.get("offset"));
    auto len = parse_u64(a.get("length"));
    if (!off || !len) {
        err = "bad offset or length";
        return std::nullopt;
    }
    op.offset = *off;
    op.length = *len;
    return op;
}

bool send_op(int sock, const delivery_op& op, int queue_fd) {
    auto text = attr_encode(op.encode());
    if (!text || text->size() > worker_message_limit) {
        errno = EMSGSIZE;
        return false;
    }
    return send_with_fd(sock, *text, queue_fd);
}

void worker_main(unique_fd sock, const worker_identity& who, bool privileged, pid_t parent,
                 const worker_settings& s) {
    // die with the agent: a killed local-delivery leaves no workers behind
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(1);
    for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGCHLD, SIGUSR1, SIGUSR2}) ::signal(sig, SIG_DFL);
    ::signal(SIGPIPE, SIG_IGN);
    // keep standard descriptors and the socket (as descriptor 3), nothing else
    int raw = sock.release();
    if (raw != 3) {
        if (::dup2(raw, 3) < 0) _exit(1);
        ::close(raw);
    }
    unique_fd me(3);
    if (::close_range(4, ~0U, 0) != 0) _exit(1);
    std::string err;
    if (privileged && !become(who.uid, who.gid, who.extra_gid, err)) {
        std::string line = "4.3.0 " + err;
        ::send(me.get(), line.data(), line.size(), MSG_NOSIGNAL);
        _exit(1);
    }
    std::vector<char> buf(worker_message_limit);
    for (;;) {
        unique_fd qfd;
        bool truncated = false;
        ssize_t n = recv_with_fd(me.get(), buf.data(), buf.size(), qfd, truncated);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0);  // the agent closed: retired
        store_result r;
        try {
            r = serve_one(buf.data(), static_cast<size_t>(n), truncated, std::move(qfd), s);
        } catch (const std::exception& e) {
            r = {"4.3.0", std::string("internal error: ") + e.what()};
        }
        std::string line = r.status + " " + printable(r.text, 1000);
        if (::send(me.get(), line.data(), line.size(), MSG_NOSIGNAL) < 0) _exit(0);
    }
}

}  // namespace tern::local
