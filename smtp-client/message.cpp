// message.cpp - see message.hpp.
#include "smtp-client/message.hpp"

#include <algorithm>
#include <fcntl.h>

#include "lib/queue_file.hpp"
#include "lib/strutil.hpp"
#include "smtp-client/data.hpp"

namespace tern::smtp_client {

bool safe_queue_path(const std::string& rel) {
    if (rel.empty() || rel.size() > 1024 || rel.front() == '/') return false;
    for (const auto& part : split_char(rel, '/'))
        if (part.empty() || part == "." || part == "..") return false;
    for (unsigned char c : rel)
        if (c < 0x21 || c == 0x7f) return false;
    return true;
}

std::unique_ptr<queued_message> queued_message::open(const std::string& queue_root, const std::string& rel,
                                                     std::string& err) {
    if (!safe_queue_path(rel)) {
        err = "bad queue file name: " + printable(rel, 100);
        return nullptr;
    }
    std::string path = queue_root;
    if (path.empty() || path.back() != '/') path += '/';
    path += rel;
    std::unique_ptr<queued_message> m(new queued_message());
    m->_fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!m->_fd) {
        err = "open " + rel + ": " + errno_text();
        return nullptr;
    }
    queue_file_info info;
    read_options opt;
    opt.log = false;
    if (!read_queue_file(m->_fd.get(), info, err, opt)) {
        err = rel + ": " + err;
        return nullptr;
    }
    m->_offset = info.message_offset;
    m->_length = info.message_length;
    m->_header_length = std::min(info.header_length, info.message_length);
    m->_size = info.message_size();
    return m;
}

bool queued_message::read(uint64_t offset, uint64_t len, std::string& out, std::string& err) const {
    if (offset > _length) offset = _length;
    len = std::min(len, _length - offset);
    return read_file_range(_fd.get(), _offset + offset, len, out, err);
}

bool queued_message::has_8bit(bool header_only, bool& result, std::string& err) const {
    constexpr uint64_t chunk = 256 * 1024;
    uint64_t end = header_only ? _header_length : _length;
    std::string buf;
    result = false;
    for (uint64_t pos = 0; pos < end; pos += chunk) {
        if (!read(pos, std::min(chunk, end - pos), buf, err)) return false;
        if (smtp_client::has_8bit(buf)) {
            result = true;
            return true;
        }
    }
    return true;
}

bool file_body::next(std::string& out, size_t max, std::string& err) {
    if (_pos >= _m.length()) return true;
    std::string buf;
    uint64_t n = std::min<uint64_t>(max, _m.length() - _pos);
    if (!_m.read(_pos, n, buf, err)) return false;
    _pos += n;
    out += buf;
    return true;
}

bool memory_body::next(std::string& out, size_t max, std::string&) {
    size_t n = std::min(max, _data.size() - _pos);
    out.append(_data, _pos, n);
    _pos += n;
    return true;
}

}  // namespace tern::smtp_client
