// net.cpp - see net.hpp.
#include "lib/net.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <event2/buffer.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace tern {

std::string sock_addr::host() const {
    char buf[INET6_ADDRSTRLEN + 1] = {0};
    if (ss.ss_family == AF_INET) {
        auto in = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
        return buf;
    }
    if (ss.ss_family == AF_INET6) {
        auto in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf);
            return buf;
        }
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
        return buf;
    }
    if (ss.ss_family == AF_UNIX) {
        auto un = reinterpret_cast<const sockaddr_un*>(&ss);
        return un->sun_path[0] ? std::string(un->sun_path) : "local";
    }
    return "unknown";
}

int sock_addr::port() const {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

std::string sock_addr::str() const {
    if (ss.ss_family == AF_INET6) return "[" + host() + "]:" + std::to_string(port());
    if (ss.ss_family == AF_INET) return host() + ":" + std::to_string(port());
    return host();
}

std::optional<sock_addr> parse_ip(std::string_view h, int port) {
    std::string host(h);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.rfind("IPv6:", 0) == 0 || host.rfind("ipv6:", 0) == 0) host = host.substr(5);
    sock_addr a;
    auto in = reinterpret_cast<sockaddr_in*>(&a.ss);
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(static_cast<uint16_t>(port));
        a.len = sizeof(sockaddr_in);
        return a;
    }
    auto in6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<uint16_t>(port));
        a.len = sizeof(sockaddr_in6);
        return a;
    }
    return std::nullopt;
}

static unique_fd bind_one(const sock_addr& a, int backlog, std::string& err) {
    unique_fd fd(::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = "socket: " + errno_text();
        return {};
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.family() == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), a.sa(), a.len) != 0) {
        err = "bind " + a.str() + ": " + errno_text();
        return {};
    }
    if (::listen(fd.get(), backlog) != 0) {
        err = "listen " + a.str() + ": " + errno_text();
        return {};
    }
    return fd;
}

std::vector<unique_fd> listen_inet(const std::string& host, int port, int backlog, std::string& err) {
    std::vector<unique_fd> out;
    if (host.empty() || host == "*" || host == "all") {
        auto v4 = parse_ip("0.0.0.0", port);
        auto fd4 = bind_one(*v4, backlog, err);
        if (!fd4) return {};
        out.push_back(std::move(fd4));
        // IPv6 is optional: a host without it still gets IPv4
        std::string err6;
        auto v6 = parse_ip("::", port);
        auto fd6 = bind_one(*v6, backlog, err6);
        if (fd6) out.push_back(std::move(fd6));
        return out;
    }
    auto a = parse_ip(host, port);
    if (!a) {
        err = "not a numeric address: " + host;
        return {};
    }
    auto fd = bind_one(*a, backlog, err);
    if (!fd) return {};
    out.push_back(std::move(fd));
    return out;
}

unique_fd listen_unix(const std::string& path, mode_t mode, int backlog, std::string& err) {
    sockaddr_un un{};
    if (path.size() >= sizeof un.sun_path) {
        err = "socket path too long: " + path;
        return {};
    }
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = "socket: " + errno_text();
        return {};
    }
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
        err = "bind " + path + ": " + errno_text();
        return {};
    }
    ::chmod(path.c_str(), mode);
    if (::listen(fd.get(), backlog) != 0) {
        err = "listen " + path + ": " + errno_text();
        return {};
    }
    return fd;
}

static bool wait_connect(int fd, int timeout_ms, std::string& err, const std::string& what) {
    struct pollfd pfd{fd, POLLOUT, 0};
    int r;
    do {
        r = ::poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        err = "connect " + what + ": timed out";
        return false;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (r < 0 || soerr != 0) {
        err = "connect " + what + ": " + errno_text(soerr ? soerr : errno);
        return false;
    }
    return true;
}

// A non-blocking connect to a UNIX stream socket never goes "in progress":
// it completes at once, or fails with EAGAIN when the listener's backlog is
// full. Such a socket was never connected (poll() reports it writable and
// hung up, SO_ERROR is 0 and a read fails with EINVAL), so EAGAIN means
// "try again later" with a fresh socket, never "wait for writability".
unique_fd connect_unix_once(const std::string& path, std::string& err, bool& again) {
    again = false;
    sockaddr_un un{};
    if (path.size() >= sizeof un.sun_path) {
        err = "socket path too long: " + path;
        errno = ENAMETOOLONG;
        return {};
    }
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = "socket: " + errno_text();
        return {};
    }
    int r;
    do {
        r = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof un);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
        int e = errno;
        again = e == EAGAIN;
        err = again ? "connect " + path + ": the service's listen queue is full"
                    : "connect " + path + ": " + errno_text(e);
        fd.reset();
        errno = e;  // for callers that tell "not running" (ENOENT, ECONNREFUSED) apart
        return {};
    }
    return fd;
}

unique_fd connect_unix(const std::string& path, int timeout_ms, std::string& err) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    int pause_ms = 1;
    for (;;) {
        bool again = false;
        auto fd = connect_unix_once(path, err, again);
        if (fd) {
            set_nonblocking(fd.get(), false);
            return fd;
        }
        if (!again) return {};
        // the listener is behind: wait for it to accept, up to timeout_ms
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            err = "connect " + path + ": the service's listen queue stayed full for " + std::to_string(timeout_ms) +
                  " ms";
            errno = EAGAIN;
            return {};
        }
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        ::poll(nullptr, 0, static_cast<int>(std::min<long long>(pause_ms, left)));
        pause_ms = std::min(pause_ms * 2, 50);
    }
}

unique_fd connect_nonblocking(const sock_addr& addr, std::string& err, const sock_addr* source) {
    unique_fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = "socket: " + errno_text();
        return {};
    }
    if (source && source->len && source->family() == addr.family()) {
        if (::bind(fd.get(), source->sa(), source->len) != 0) {
            err = "bind " + source->str() + ": " + errno_text();
            return {};
        }
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd.get(), addr.sa(), addr.len) != 0 && errno != EINPROGRESS) {
        err = "connect " + addr.str() + ": " + errno_text();
        return {};
    }
    return fd;
}

unique_fd connect_inet(const sock_addr& addr, int timeout_ms, std::string& err, const sock_addr* source) {
    auto fd = connect_nonblocking(addr, err, source);
    if (!fd) return {};
    if (!wait_connect(fd.get(), timeout_ms, err, addr.str())) return {};
    set_nonblocking(fd.get(), false);
    return fd;
}

std::vector<std::string> interface_addresses(const std::vector<std::string>& inet_interfaces) {
    std::vector<std::string> out;
    for (const auto& i : inet_interfaces) {
        if (i == "all") return {""};
        if (i == "loopback-only") {
            out.push_back("127.0.0.1");
            out.push_back("::1");
        } else if (i == "localhost") {
            out.push_back("127.0.0.1");
        } else {
            out.push_back(i);
        }
    }
    if (out.empty()) out.push_back("");
    return out;
}

line_status read_line(evbuffer* in, size_t max_len, std::string& line, bool* bare_lf) {
    struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, nullptr);
    if (p.pos < 0) {
        if (evbuffer_get_length(in) > max_len) return line_status::too_long;
        return line_status::need_more;
    }
    size_t n = static_cast<size_t>(p.pos);
    if (n > max_len + 1) return line_status::too_long;
    line.resize(n);
    evbuffer_remove(in, line.data(), n);
    evbuffer_drain(in, 1);
    bool cr = !line.empty() && line.back() == '\r';
    if (cr) line.pop_back();
    if (bare_lf) *bare_lf = !cr;
    return line_status::ok;
}

bool is_loopback(const sock_addr& a) {
    if (a.family() == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in*>(&a.ss)->sin_addr.s_addr) >> 24) == 127;
    if (a.family() == AF_INET6) {
        auto in6 = reinterpret_cast<const sockaddr_in6*>(&a.ss);
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
    }
    return a.family() == AF_UNIX;
}

bool send_with_fd(int sock, std::string_view data, int fd) {
    struct iovec iov{const_cast<char*>(data.data()), data.size()};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl{};
    struct msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    for (;;) {
        ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            if (static_cast<size_t>(n) == data.size()) return true;
            errno = EMSGSIZE;
            return false;
        }
        if (errno != EINTR) return false;
    }
}

ssize_t recv_with_fd(int sock, char* buf, size_t cap, unique_fd& fd, bool& truncated) {
    fd.reset();
    truncated = false;
    struct iovec iov{buf, cap};
    union {
        char b[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } ctl{};
    struct msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.b;
    msg.msg_controllen = sizeof ctl.b;
    ssize_t n;
    do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t k = 0; k < count; ++k) {
            int got;
            std::memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof got);
            if (!fd) fd.reset(got);
            else unique_fd extra(got);  // one is expected: the rest are closed
        }
    }
    truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    return n;
}

}  // namespace tern
