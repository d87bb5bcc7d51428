// targets.cpp - see targets.hpp.
#include "local-delivery/targets.hpp"

#include "lib/aliases.hpp"
#include "lib/strutil.hpp"

namespace tern::local {

// aliases(5) value syntax, one element per line allowed (.forward, include
// files), plus "\user": that user's own mailbox.
parsed_targets parse_targets(std::string_view text) {
    parsed_targets out;
    std::string joined;
    for (auto& line : split_char(text, '\n')) {
        std::string_view l = trim(line);
        if (l.empty() || l.front() == '#') continue;
        if (!joined.empty()) joined += ", ";
        joined += l;
    }
    std::string err;
    auto v = parse_alias_values(joined, &err);
    if (v.empty() && !err.empty()) {
        out.ok = false;
        out.error = err;
        return out;
    }
    for (auto& t : v) {
        target x;
        x.text = t.text;
        switch (t.kind) {
        case alias_kind::address: x.kind = target_kind::address; break;
        case alias_kind::file: x.kind = target_kind::file; break;
        case alias_kind::command: x.kind = target_kind::command; break;
        case alias_kind::include: x.kind = target_kind::include; break;
        }
        if (x.kind == target_kind::address && !x.text.empty() && x.text.front() == '\\') {
            x.literal = true;
            x.text.erase(0, 1);
        }
        out.targets.push_back(std::move(x));
    }
    return out;
}

}  // namespace tern::local
