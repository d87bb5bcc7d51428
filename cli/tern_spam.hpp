// tern_spam.hpp - the subcommands of tern-spam, one file each
// (tern_spam_spf.cpp: spf; the classifier adds learn and classify). A
// subcommand gets the loaded main.cf and its own arguments and returns the
// exit status. To add one: declare it here and add a row to kSubcommands in
// tern_spam.cpp.
#pragma once

#include <string>
#include <vector>

#include "lib/config.hpp"

namespace tern::cli::spam {

using subcommand_fn = int (*)(const config& cfg, const std::vector<std::string>& args);

struct subcommand {
    const char* name;
    const char* usage;  // the arguments after the name
    subcommand_fn run;
};

// tern-spam spf --ip ADDR --sender ADDR --helo NAME [--receiver NAME]
int cmd_spf(const config& cfg, const std::vector<std::string>& args);

}  // namespace tern::cli::spam
