// data.cpp - see data.hpp.
#include "smtp-client/data.hpp"

namespace tern::smtp_client {

void data_encoder::end_line(std::string& out) {
    out += "\r\n";
    _col = 0;
}

void data_encoder::feed(std::string_view chunk, std::string& out) {
    out.reserve(out.size() + chunk.size() + chunk.size() / 32 + 8);
    size_t i = 0;
    if (_cr) {
        _cr = false;
        end_line(out);
        if (!chunk.empty() && chunk[0] == '\n') i = 1;  // CR LF split across chunks
    }
    while (i < chunk.size()) {
        char c = chunk[i];
        if (c == '\n') {
            end_line(out);
            ++i;
            continue;
        }
        if (c == '\r') {
            if (i + 1 == chunk.size()) {  // decide with the next chunk
                _cr = true;
                return;
            }
            end_line(out);
            i += chunk[i + 1] == '\n' ? 2 : 1;
            continue;
        }
        if (_col == 0 && c == '.') {
            out += '.';
            ++_col;
        } else if (_limit && _col >= _limit) {
            out += "\r\n ";
            _col = 1;
        }
        // copy the run of ordinary bytes up to the next line end or the limit
        size_t j = i;
        while (j < chunk.size() && chunk[j] != '\n' && chunk[j] != '\r' && (!_limit || _col + (j - i) < _limit)) ++j;
        if (j == i) {  // the limit was reached exactly at a dot-stuffed start
            out += "\r\n ";
            _col = 1;
            continue;
        }
        out.append(chunk.substr(i, j - i));
        _col += j - i;
        i = j;
    }
}

void data_encoder::finish(std::string& out) {
    if (_cr) {
        _cr = false;
        end_line(out);
    }
    if (_col != 0) end_line(out);
    out += ".\r\n";
}

bool has_8bit(std::string_view s) {
    for (unsigned char c : s)
        if (c & 0x80) return true;
    return false;
}

}  // namespace tern::smtp_client
