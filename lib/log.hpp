// log.hpp - one log line per event: "tern/<daemon>[pid]: QUEUEID: key=value, ...".
// Goes to syslog (facility mail) or, when started in the foreground or with
// maillog_file, to stderr with a timestamp. Every daemon and tool calls init().
#pragma once

#include <string_view>

namespace tern::log {

enum class sink { syslog, stderr_stream };

// name is the program name without "tern/" (e.g. "smtpd").
void init(std::string_view name, sink where, bool verbose);
void set_verbose(bool on);
// Log prefix before "/program" (syslog_name, default "tern").
void set_ident(std::string_view syslog_name);
bool verbose();
std::string_view program();

void debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));  // only with -v
void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));  // counted
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));  // exit(1)
[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));  // abort()

unsigned error_count();

}  // namespace tern::log
