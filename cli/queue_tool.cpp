// queue_tool.cpp - see queue_tool.hpp.
#include "cli/queue_tool.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace tern::queue_tool {
namespace {
std::string g_program = "tern";

void vsay(const char* level, const char* fmt, va_list ap) {
    char msg[4096];
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s%s\n", g_program.c_str(), level, msg);
}
}  // namespace

void set_program(std::string_view name) { g_program = std::string(name); }
const std::string& program() { return g_program; }

void fatal(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay("fatal: ", fmt, ap);
    va_end(ap);
    std::exit(code);
}

void warn(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay("warning: ", fmt, ap);
    va_end(ap);
}

void info(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay("", fmt, ap);
    va_end(ap);
}

std::string config_dir(const std::string& from_option) {
    if (!from_option.empty()) return from_option;
    if (const char* env = std::getenv("MAIL_CONFIG"); env && *env) return env;
    return TERN_CONFIG_DIR;
}

void load_config(config& cfg, const std::string& dir) {
    std::vector<config_error> errors;
    cfg.load(dir, errors);
    cfg.validate(errors);
    if (!errors.empty()) {
        for (size_t i = 0; i + 1 < errors.size(); ++i) warn("%s", errors[i].str().c_str());
        fatal(ex_config, "%s", errors.back().str().c_str());
    }
    if (cfg.get("queue_directory").empty()) fatal(ex_config, "queue_directory is empty in %s/main.cf", dir.c_str());
}

}  // namespace tern::queue_tool
