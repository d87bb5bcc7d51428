// headers.cpp - see headers.hpp.
#include "local-delivery/headers.hpp"

#include "lib/strutil.hpp"

namespace tern::local {
namespace {

std::string clean(std::string_view s) {
    std::string out;
    for (unsigned char c : s) out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
    return out;
}

void field(header_facts& f, std::string_view line, size_t max) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Delivered-To")) {
        if (!value.empty() && value.front() == '<' && value.back() == '>') value = value.substr(1, value.size() - 2);
        if (f.delivered_to.size() >= max) f.truncated = true;
        else if (!value.empty()) f.delivered_to.insert(to_lower(value));
    } else if (iequals(name, "X-Spam-Flag")) {
        if (istarts_with(value, "yes")) f.spam = true;
    }
}

}  // namespace

header_facts scan_headers(std::string_view header, size_t max_delivered_to) {
    header_facts f;
    std::string current;  // one unfolded field, bounded
    const size_t max_field = 8192;
    size_t pos = 0;
    while (pos < header.size()) {
        size_t nl = header.find('\n', pos);
        std::string_view line = header.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? header.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') {
            if (current.size() + line.size() < max_field) current.append(line.data(), line.size());
            continue;
        }
        if (!current.empty()) field(f, current, max_delivered_to);
        current.assign(line.substr(0, max_field));
    }
    if (!current.empty()) field(f, current, max_delivered_to);
    return f;
}

std::string trace_headers(std::string_view sender, std::string_view delivered_to) {
    return "Return-Path: <" + clean(sender) + ">\nDelivered-To: " + clean(delivered_to) + "\n";
}

}  // namespace tern::local
