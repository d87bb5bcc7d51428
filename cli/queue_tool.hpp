// queue_tool.hpp - what the queue tools (postqueue/mailq, postsuper) share:
// messages in Postfix's "program: fatal: text" style on stderr, sysexits
// codes, and loading main.cf from -c DIR or $MAIL_CONFIG.
#pragma once

#include <string>
#include <string_view>

#include "lib/config.hpp"

namespace tern::queue_tool {

// sysexits(3)
inline constexpr int ex_usage = 64, ex_dataerr = 65, ex_unavailable = 69, ex_software = 70, ex_ioerr = 74,
                     ex_tempfail = 75, ex_noperm = 77, ex_config = 78;

void set_program(std::string_view name);
const std::string& program();
[[noreturn]] void fatal(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// -c DIR if given, else $MAIL_CONFIG, else the built-in configuration directory.
std::string config_dir(const std::string& from_option);
// Load DIR/main.cf; configuration errors are fatal (exit 78).
void load_config(config& cfg, const std::string& dir);

}  // namespace tern::queue_tool
