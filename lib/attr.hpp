// attr.hpp - the attribute-list codec used on every internal UNIX socket and
// for the Postfix policy delegation protocol: "name=value\n" lines, a list
// ended by an empty line. In internal mode backslash, newline, CR and NUL in
// values are escaped (\\ \n \r \0); in policy mode values are sent raw and a
// value holding a newline is refused.
// SECURITY: input may come from another process (or a policy client); every
// read is bounded by line length, attribute count and total size.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct evbuffer;

namespace tern {

struct attr_list {
    std::vector<std::pair<std::string, std::string>> items;

    attr_list& add(std::string name, std::string value) {
        items.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    const std::string* find(std::string_view name) const;
    std::string get(std::string_view name, std::string_view dflt = "") const;
    std::vector<std::string> all(std::string_view name) const;
    bool empty() const { return items.empty(); }
};

struct attr_limits {
    size_t max_line = 16384;      // one name=value line, without the newline
    size_t max_count = 20000;     // attributes per list
    size_t max_total = 8u << 20;  // bytes per list
    bool escape = true;           // false: policy protocol (raw values)
};

// Encode a list (with the final empty line). In policy mode a value with a
// newline cannot be sent: returns nullopt.
std::optional<std::string> attr_encode(const attr_list& list, bool escape = true);

// Incremental decoder: feed bytes as they arrive.
class attr_parser {
public:
    enum class status { need_more, done, error };
    explicit attr_parser(attr_limits lim = {}) : _lim(lim) {}

    // Consumes bytes up to and including the end of one list (or up to an
    // error). `consumed` tells how many bytes were used.
    status feed(std::string_view data, size_t& consumed);
    // Decode directly from a libevent buffer, draining what it consumed.
    status feed(struct evbuffer* buf);

    attr_list take();
    const std::string& error() const { return _error; }
    void reset();

private:
    status line(std::string_view l);
    attr_limits _lim;
    attr_list _list;
    std::string _partial;
    size_t _total = 0;
    std::string _error;
    bool _failed = false;
};

// Blocking use on a socket, with a time limit per call.
class attr_stream {
public:
    explicit attr_stream(int fd, attr_limits lim = {}) : _fd(fd), _parser(lim), _escape(lim.escape) {}
    bool write(const attr_list& list, int timeout_ms, std::string& err);
    std::optional<attr_list> read(int timeout_ms, std::string& err);
    int fd() const { return _fd; }

private:
    int _fd;
    attr_parser _parser;
    bool _escape;
    std::string _buf;  // bytes read but not yet parsed
};

}  // namespace tern
