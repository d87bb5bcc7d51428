// log.cpp - see log.hpp. Each line is written with one write(2) so that
// daemons sharing a log file (O_APPEND) never interleave within a line.
#include "lib/log.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

namespace tern::log {
namespace {

std::string g_name = "tern";
std::string g_ident = "tern";
sink g_sink = sink::stderr_stream;
bool g_verbose = false;
unsigned g_errors = 0;

void emit(int prio, const char* level, const char* fmt, va_list ap) {
    int saved = errno;
    char msg[4096];
    int n = std::vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0) msg[0] = 0;
    // never let a newline from untrusted data split a log line
    for (char* p = msg; *p; ++p)
        if (*p == '\n' || *p == '\r') *p = ' ';
    if (g_sink == sink::syslog) {
        if (level[0])
            ::syslog(prio, "%s: %s", level, msg);
        else
            ::syslog(prio, "%s", msg);
    } else {
        char stamp[64];
        struct timeval tv;
        ::gettimeofday(&tv, nullptr);
        struct tm tm;
        ::localtime_r(&tv.tv_sec, &tm);
        std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
        char line[4400];
        int len = std::snprintf(line, sizeof line, "%s %s[%d]: %s%s%s\n", stamp, g_ident.c_str(),
                                static_cast<int>(::getpid()), level, level[0] ? ": " : "", msg);
        if (len > static_cast<int>(sizeof line) - 1) {
            len = sizeof line - 1;
            line[len - 1] = '\n';
        }
        if (len > 0) {
            ssize_t w = ::write(2, line, static_cast<size_t>(len));
            (void)w;
        }
    }
    errno = saved;
}

}  // namespace

void init(std::string_view name, sink where, bool verbose) {
    g_name = std::string(name);
    g_ident = "tern/" + g_name;
    g_sink = where;
    g_verbose = verbose;
    if (where == sink::syslog) ::openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void set_verbose(bool on) { g_verbose = on; }

void set_ident(std::string_view syslog_name) {
    if (syslog_name.empty()) return;
    std::string ident = std::string(syslog_name) + "/" + g_name;
    if (ident == g_ident) return;
    g_ident = ident;
    if (g_sink == sink::syslog) {
        ::closelog();
        ::openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
}
bool verbose() { return g_verbose; }
std::string_view program() { return g_name; }
unsigned error_count() { return g_errors; }

void debug(const char* fmt, ...) {
    if (!g_verbose) return;
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_DEBUG, "", fmt, ap);
    va_end(ap);
}

void info(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_INFO, "", fmt, ap);
    va_end(ap);
}

void warn(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_WARNING, "warning", fmt, ap);
    va_end(ap);
}

void error(const char* fmt, ...) {
    ++g_errors;
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_ERR, "error", fmt, ap);
    va_end(ap);
}

void fatal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_CRIT, "fatal", fmt, ap);
    va_end(ap);
    std::exit(1);
}

void panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_CRIT, "panic", fmt, ap);
    va_end(ap);
    std::abort();
}

}  // namespace tern::log
