// message.hpp - the queued message a delivery sends: the queue file named
// in the request, opened read-only, its message located with lib/queue's
// reader, and read in chunks (never all at once unless it must be
// converted). Also the two body sources the connection streams from.
// SECURITY: the queue file path comes from the qmgr's request; it must be
// relative to queue_directory, without "..", so the agent reads nothing
// else. The file's contents are checked by lib/queue's bounded reader.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lib/fd.hpp"
#include "smtp-client/connection.hpp"

namespace tern::smtp_client {

class queued_message {
public:
    // rel: "active/3F1B2C0A1D"; queue_root: the queue directory as seen now
    // ("/" when chrooted into it).
    static std::unique_ptr<queued_message> open(const std::string& queue_root, const std::string& rel,
                                                std::string& err);

    uint64_t length() const { return _length; }          // message bytes (LF line ends)
    uint64_t header_length() const { return _header_length; }
    uint64_t smtp_size() const { return _size; }          // with CRLF line ends, for SIZE=
    // [offset, offset+len) of the message; false with err on I/O trouble.
    bool read(uint64_t offset, uint64_t len, std::string& out, std::string& err) const;
    // True if any message byte has the high bit set (body 8-bit); scans in chunks.
    bool has_8bit(bool header_only, bool& result, std::string& err) const;

private:
    queued_message() = default;
    unique_fd _fd;
    uint64_t _offset = 0, _length = 0, _header_length = 0, _size = 0;
};

// Streams the queued message from the file.
class file_body final : public body_source {
public:
    explicit file_body(const queued_message& m) : _m(m) {}
    bool next(std::string& out, size_t max, std::string& err) override;
    void rewind() override { _pos = 0; }

private:
    const queued_message& _m;
    uint64_t _pos = 0;
};

// A converted message held in memory (8BITMIME downgrade).
class memory_body final : public body_source {
public:
    explicit memory_body(std::string data) : _data(std::move(data)) {}
    bool next(std::string& out, size_t max, std::string& err) override;
    void rewind() override { _pos = 0; }
    const std::string& data() const { return _data; }

private:
    std::string _data;
    size_t _pos = 0;
};

// A queue_file value we are willing to open.
bool safe_queue_path(const std::string& rel);

}  // namespace tern::smtp_client
