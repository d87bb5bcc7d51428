// net.hpp - sockets: inet and UNIX listeners, blocking and non-blocking
// connects with time limits, address formatting, and a bounded line reader
// for libevent buffers. Used by master (binding), the daemons and the tools.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

#include "lib/fd.hpp"

struct evbuffer;

namespace tern {

struct sock_addr {
    sockaddr_storage ss{};
    socklen_t len = 0;
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
    int family() const { return ss.ss_family; }
    std::string host() const;   // "192.0.2.1", "2001:db8::1", or UNIX path
    int port() const;
    std::string str() const;    // "192.0.2.1:25" / "[::1]:25"
};

// Parse a numeric address (no DNS). Accepts "1.2.3.4", "::1", "[::1]".
std::optional<sock_addr> parse_ip(std::string_view host, int port = 0);

// Listeners. inet: one socket per address; host "" means all addresses
// (both families when available). Sockets are non-blocking and close-on-exec.
std::vector<unique_fd> listen_inet(const std::string& host, int port, int backlog, std::string& err);
unique_fd listen_unix(const std::string& path, mode_t mode, int backlog, std::string& err);

// Blocking connect with a time limit; result is a blocking socket. A UNIX
// listener whose backlog is full is tried again (1, 2, 4 .. 50 ms apart)
// until timeout_ms; errno tells the failure (EAGAIN: still full).
unique_fd connect_unix(const std::string& path, int timeout_ms, std::string& err);
// One non-blocking connect to a UNIX socket, for event-loop callers: a
// connected non-blocking socket, or none with err set and `again` true when
// the listener's backlog was full (retry later with a new call).
unique_fd connect_unix_once(const std::string& path, std::string& err, bool& again);
unique_fd connect_inet(const sock_addr& addr, int timeout_ms, std::string& err,
                       const sock_addr* source = nullptr);
// Non-blocking connect started; completion is seen as writability.
unique_fd connect_nonblocking(const sock_addr& addr, std::string& err, const sock_addr* source = nullptr);

// The addresses named by inet_interfaces: "all" -> {""}, "loopback-only" ->
// {"127.0.0.1", "::1"}, or the list itself.
std::vector<std::string> interface_addresses(const std::vector<std::string>& inet_interfaces);

// Bounded line reading from an evbuffer. A line ends at LF; a preceding CR
// is removed. `bare_lf` reports a line that ended in LF without CR.
enum class line_status { ok, need_more, too_long };
line_status read_line(evbuffer* in, size_t max_len, std::string& line, bool* bare_lf = nullptr);

bool is_loopback(const sock_addr& a);

// One datagram (SOCK_SEQPACKET/SOCK_DGRAM UNIX socket) with a descriptor
// attached (SCM_RIGHTS). False with errno set; a short send is EMSGSIZE.
bool send_with_fd(int sock, std::string_view data, int fd);
// Receive one datagram into buf (at most cap bytes) and the first
// descriptor that came with it (close-on-exec; any further ones are
// closed). Returns the byte count, 0 at EOF, -1 with errno set;
// `truncated` tells that the datagram or its descriptors did not fit.
ssize_t recv_with_fd(int sock, char* buf, size_t cap, unique_fd& fd, bool& truncated);

}  // namespace tern
