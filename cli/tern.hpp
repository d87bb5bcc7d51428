// tern.hpp - the `tern` administration command: shared declarations of its
// sub-commands (init, start, stop, reload, status, check, config).
#pragma once

#include <string>
#include <vector>

namespace tern::cli {

int cmd_init(const std::vector<std::string>& args);
int cmd_start(const std::string& config_dir, const std::vector<std::string>& args);
int cmd_stop(const std::string& config_dir, const std::vector<std::string>& args);
int cmd_reload(const std::string& config_dir, const std::vector<std::string>& args);
int cmd_status(const std::string& config_dir, const std::vector<std::string>& args);
int cmd_check(const std::string& config_dir, const std::vector<std::string>& args);
int cmd_config(const std::string& config_dir, const std::vector<std::string>& args);

// The directory holding this build's programs: the build tree's run/ when
// `tern` runs from a build tree, else the installed daemon directory.
std::string program_directory(bool daemons);

// pid of the running master for this configuration, or 0.
int running_master(const std::string& queue_dir);

}  // namespace tern::cli
