// net_list.cpp - see net_list.hpp.
#include "lib/net_list.hpp"

#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern {

std::optional<net_list> net_list::parse(std::string_view list, std::string& err, const map_options& opts) {
    net_list out;
    for (const auto& text : split_table_list(list)) {
        element e;
        std::string_view s = text;
        if (s[0] == '!') {
            e.negate = true;
            s.remove_prefix(1);
        }
        if (s.empty()) {
            err = "\"" + text + "\": '!' without an element";
            return std::nullopt;
        }
        // An address first: "fe80::/10" would otherwise look like a table type.
        std::string net_err;
        if (auto n = parse_ip_net(s, net_err)) {
            e.net = *n;
        } else if (s[0] != '[' && parse_table_spec(s)) {
            std::vector<config_error> errors;
            auto t = open_table(s, opts, errors);
            if (!t) {
                err = errors.empty() ? "\"" + text + "\": cannot open table" : errors.front().str();
                return std::nullopt;
            }
            for (const auto& ce : errors) log::error("table %s: %s", t->spec().c_str(), ce.str().c_str());
            e.table = std::move(t);
        } else if (s.find_first_of(":/[") == std::string_view::npos &&
                   s.find_first_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos) {
            err = "\"" + printable(text, 60) + "\": host names are not supported; use addresses, networks or a cidr: table";
            return std::nullopt;
        } else {
            err = net_err.empty() ? "\"" + printable(text, 60) + "\": not a network or type:table" : net_err;
            return std::nullopt;
        }
        out._elements.push_back(std::move(e));
    }
    return out;
}

match_result net_list::match(const ip_addr& a) {
    _error.clear();
    std::string key;
    for (auto& e : _elements) {
        bool hit;
        if (e.net) {
            hit = e.net->contains(a);
        } else {
            if (key.empty()) key = a.str();
            auto r = e.table->lookup(key);
            if (r.failed()) {
                _error = r.error;
                return match_result::error;
            }
            hit = r.found();
        }
        if (hit) return e.negate ? match_result::no : match_result::yes;
    }
    return match_result::no;
}

match_result net_list::match(std::string_view ip) {
    auto a = parse_ip_addr(ip);
    if (!a) {
        _error.clear();
        return match_result::no;
    }
    return match(*a);
}

match_result net_list::match(const sock_addr& sa) {
    auto a = ip_addr_of(sa);
    if (!a) {
        _error.clear();
        return match_result::no;
    }
    return match(*a);
}

}  // namespace tern
