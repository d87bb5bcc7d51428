// reply.cpp - see reply.hpp.
#include "smtp-client/reply.hpp"

#include <cctype>

#include "lib/strutil.hpp"

namespace tern::smtp_client {

std::string smtp_reply::text() const {
    std::string out;
    for (const auto& l : raw) {
        if (!out.empty()) out += ' ';
        out += l;
    }
    return printable(out, 2000);
}

std::string smtp_reply::dsn() const {
    if (!enhanced.empty()) return enhanced;
    // 3xx where no 3xx belongs counts as a temporary failure
    int k = klass();
    return k == 2 ? "2.0.0" : k == 5 ? "5.0.0" : "4.0.0";
}

namespace {

// 1-3 digits starting at s[i]; advances i.
bool digits(std::string_view s, size_t& i) {
    size_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && n < 4) {
        ++i;
        ++n;
    }
    return n >= 1 && n <= 3;
}

}  // namespace

std::string enhanced_code_prefix(std::string_view text, int klass) {
    if (text.size() < 5 || text[0] != static_cast<char>('0' + klass)) return "";
    if (klass != 2 && klass != 4 && klass != 5) return "";
    if (text[1] != '.') return "";
    size_t i = 2;
    if (!digits(text, i) || i >= text.size() || text[i] != '.') return "";
    ++i;
    if (!digits(text, i)) return "";
    if (i < text.size() && text[i] != ' ' && text[i] != '\t') return "";
    return std::string(text.substr(0, i));
}

void reply_parser::reset() {
    _partial.clear();
    _reply = {};
    _error.clear();
    _failed = false;
    _done = false;
}

smtp_reply reply_parser::take() {
    smtp_reply r = std::move(_reply);
    reset();
    return r;
}

reply_parser::status reply_parser::feed(std::string_view data, size_t& consumed) {
    consumed = 0;
    if (_failed) return status::error;
    if (_done) return status::done;
    while (consumed < data.size()) {
        size_t nl = data.find('\n', consumed);
        size_t end = nl == std::string_view::npos ? data.size() : nl;
        size_t add = end - consumed;
        // the limit counts the line without its CR LF
        if (_partial.size() + add > _max_line + 1) {
            _failed = true;
            _error = "reply line longer than " + std::to_string(_max_line) + " bytes";
            return status::error;
        }
        _partial.append(data.substr(consumed, add));
        if (nl == std::string_view::npos) {
            consumed = data.size();
            return status::need_more;
        }
        consumed = nl + 1;
        std::string l = std::move(_partial);
        _partial.clear();
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (l.size() > _max_line) {
            _failed = true;
            _error = "reply line longer than " + std::to_string(_max_line) + " bytes";
            return status::error;
        }
        auto st = line(l);
        if (st != status::need_more) return st;
    }
    return status::need_more;
}

reply_parser::status reply_parser::line(std::string_view l) {
    auto bad = [&](const std::string& why) {
        _failed = true;
        _error = why + ": \"" + printable(l, 100) + "\"";
        return status::error;
    };
    if (l.size() < 3 || !std::isdigit(static_cast<unsigned char>(l[0])) ||
        !std::isdigit(static_cast<unsigned char>(l[1])) || !std::isdigit(static_cast<unsigned char>(l[2])))
        return bad("malformed reply");
    if (l[0] < '2' || l[0] > '5') return bad("reply code out of range");
    int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    bool last;
    if (l.size() == 3 || l[3] == ' ')
        last = true;
    else if (l[3] == '-')
        last = false;
    else
        return bad("malformed reply");
    if (_reply.raw.empty())
        _reply.code = code;
    else if (code != _reply.code)
        return bad("reply code changed within a multi-line reply");
    if (_reply.raw.size() >= _max_lines) {
        _failed = true;
        _error = "reply longer than " + std::to_string(_max_lines) + " lines";
        return status::error;
    }
    std::string_view text = l.size() > 4 ? l.substr(4) : std::string_view();
    if (_reply.raw.empty()) _reply.enhanced = enhanced_code_prefix(text, code / 100);
    _reply.raw.emplace_back(l);
    _reply.lines.emplace_back(text);
    if (last) {
        _done = true;
        return status::done;
    }
    return status::need_more;
}

capabilities parse_ehlo(const smtp_reply& r) {
    capabilities c;
    c.esmtp = r.positive();
    if (r.lines.empty()) return c;
    auto first = split_any(r.lines[0], " \t");
    if (!first.empty()) c.greeting_name = first[0];
    for (size_t i = 1; i < r.lines.size(); ++i) {
        auto words = split_any(r.lines[i], " \t");
        if (words.empty()) continue;
        std::string kw = to_upper(words[0]);
        if (kw == "PIPELINING") c.pipelining = true;
        else if (kw == "STARTTLS") c.starttls = true;
        else if (kw == "8BITMIME") c.eightbitmime = true;
        else if (kw == "DSN") c.dsn = true;
        else if (kw == "SMTPUTF8") c.smtputf8 = true;
        else if (kw == "CHUNKING") c.chunking = true;
        else if (kw == "SIZE") {
            c.size = true;
            if (words.size() > 1)
                if (auto n = parse_u64(words[1])) c.size_limit = *n;
        } else if (kw == "AUTH" || kw.rfind("AUTH=", 0) == 0) {
            // "AUTH=LOGIN PLAIN" is an old variant of "AUTH LOGIN PLAIN"
            size_t start = 1;
            if (kw.size() > 5) c.auth.push_back(kw.substr(5));
            for (size_t j = start; j < words.size(); ++j) c.auth.push_back(to_upper(words[j]));
        }
    }
    return c;
}

}  // namespace tern::smtp_client
