// params.hpp - the one table of known main.cf parameters.
// Each component keeps its rows in its own params_<component>.cpp; this module
// joins them. The daemons, `tern config` and `tern check` all read this table.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace tern {

enum class param_type { string, boolean, integer, time, size, list };

struct param_def {
    const char* name;
    param_type type;
    const char* default_value;  // may use $name; "" is empty
    const char* doc;            // one line
    int64_t min = 0;            // bounds for integer, time (seconds) and size (bytes)
    int64_t max = std::numeric_limits<int64_t>::max();
    char time_unit = 's';       // unit of a bare number for time parameters: s m h d w
};

// All known parameters, sorted by name.
const std::vector<const param_def*>& all_params();
const param_def* find_param(std::string_view name);
const char* param_type_name(param_type t);

// Fragments (one per component). Each returns its rows.
std::span<const param_def> params_core();
std::span<const param_def> params_smtpd();
std::span<const param_def> params_delivery();
std::span<const param_def> params_access();
std::span<const param_def> params_spamd();

}  // namespace tern
