// params.cpp - joins the per-component parameter fragments into one sorted table.
#include "lib/params.hpp"

#include <algorithm>
#include <cstring>

namespace tern {

const std::vector<const param_def*>& all_params() {
    static const std::vector<const param_def*> table = [] {
        std::vector<const param_def*> t;
        for (auto frag : {params_core(), params_smtpd(), params_delivery(), params_access(), params_spamd()})
            for (const auto& d : frag) t.push_back(&d);
        std::sort(t.begin(), t.end(), [](auto a, auto b) { return std::strcmp(a->name, b->name) < 0; });
        return t;
    }();
    return table;
}

const param_def* find_param(std::string_view name) {
    const auto& t = all_params();
    auto it = std::lower_bound(t.begin(), t.end(), name,
                               [](const param_def* d, std::string_view n) { return std::string_view(d->name) < n; });
    if (it != t.end() && (*it)->name == name) return *it;
    return nullptr;
}

const char* param_type_name(param_type t) {
    switch (t) {
    case param_type::string: return "string";
    case param_type::boolean: return "boolean";
    case param_type::integer: return "integer";
    case param_type::time: return "time";
    case param_type::size: return "size";
    case param_type::list: return "list";
    }
    return "?";
}

}  // namespace tern
