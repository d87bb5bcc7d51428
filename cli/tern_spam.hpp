// tern_spam.hpp - `tern-spam`: shared declarations of its sub-commands, one
// file each (tern_spam_spf.cpp: spf; the classifier's learn, classify and
// tokens come from the bayes side). To add one: declare it here and add a
// row to `commands` in tern_spam.cpp.
#pragma once

#include <string>
#include <vector>

#include "lib/config.hpp"

namespace tern::spam_cli {

// What every sub-command gets: the loaded main.cf.
struct context {
    config cfg;
    std::string config_dir;
    bool explicit_dir = false;
};

using command_fn = int (*)(context& ctx, const std::vector<std::string>& args);

// spf --ip ADDR --sender ADDR --helo NAME [--receiver NAME]
int cmd_spf(context& ctx, const std::vector<std::string>& args);

}  // namespace tern::spam_cli
