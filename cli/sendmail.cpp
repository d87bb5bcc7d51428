// sendmail.cpp - `sendmail`, the Sendmail-compatible command that programs
// call to send mail: the message on standard input, recipients as
// arguments or (-t) from its To/Cc/Bcc headers. Options: -f/-r sender,
// -F full name, -i/-oi (a lone "." does not end the input), -t, -N notify,
// -R ret, -V envid, -B body type, -bm (default), -bs (SMTP on stdin),
// -bp (= mailq), -bi (= newaliases), -q (flush the queue), -C/-c DIR;
// other Sendmail options (-o*, -v, -U, -G, -L, -odi, ...) are accepted and
// ignored. Exit codes are sysexits(3).
// SECURITY: the input is untrusted and bounded by message_size_limit; the
// command runs with its caller's privileges and only writes to maildrop/.
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <pwd.h>
#include <unistd.h>

#include "cli/sendmail.hpp"
#include "lib/addr.hpp"
#include "lib/cleanup.hpp"
#include "lib/fd.hpp"
#include "lib/mime.hpp"
#include "lib/strutil.hpp"

using namespace tern;
using namespace tern::sendmail;

namespace {

struct options {
    std::string config_dir;
    enum class mode { deliver, smtp, print_queue, flush, newaliases } m = mode::deliver;
    std::string sender;
    bool sender_given = false;
    std::string full_name;
    bool ignore_dots = false;  // -i / -oi
    bool extract = false;      // -t
    std::string notify, ret, envid, body;
    std::vector<std::string> recipients;
};

[[noreturn]] void die(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void die(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fputs("sendmail: fatal: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(code);
}

void usage() {
    die(ex_usage, "usage: sendmail [-C dir] [-f sender] [-F name] [-i] [-t] [-N notify] [-R ret] [-V envid] "
                  "[-bm|-bs|-bp|-bi|-q] [recipient ...]");
}

options parse_args(int argc, char** argv) {
    options o;
    if (const char* env = std::getenv("MAIL_CONFIG")) o.config_dir = env;
    std::string prog = basename_of(argv[0]);
    if (prog == "mailq") o.m = options::mode::print_queue;
    if (prog == "newaliases") o.m = options::mode::newaliases;
    int i = 1;
    auto value = [&](const std::string& a, size_t at) -> std::string {
        if (a.size() > at) return a.substr(at);
        if (i + 1 >= argc) usage();
        return argv[++i];
    };
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a.empty() || a[0] != '-' || a == "-") break;
        switch (a[1]) {
        case 'C':
        case 'c': o.config_dir = value(a, 2); break;
        case 'f':
        case 'r':
            o.sender = value(a, 2);
            o.sender_given = true;
            break;
        case 'F': o.full_name = value(a, 2); break;
        case 'i': o.ignore_dots = true; break;
        case 't': o.extract = true; break;
        case 'N': o.notify = value(a, 2); break;
        case 'R': o.ret = value(a, 2); break;
        case 'V': o.envid = value(a, 2); break;
        case 'B': o.body = value(a, 2); break;
        case 'o':
            // -oi is -i; -oX values are Sendmail options that tern does not need
            if (a == "-oi") o.ignore_dots = true;
            else if (a.size() == 2) (void)value(a, 2);
            break;
        case 'b':
            if (a == "-bm") o.m = options::mode::deliver;
            else if (a == "-bs") o.m = options::mode::smtp;
            else if (a == "-bp") o.m = options::mode::print_queue;
            else if (a == "-bi") o.m = options::mode::newaliases;
            else die(ex_usage, "unsupported mode %s", a.c_str());
            break;
        case 'q':
            // -q and -qR/-qS: flush (a -q interval is Sendmail daemon mode: also a flush)
            o.m = options::mode::flush;
            break;
        case 'L':
        case 'h':
            (void)value(a, 2);
            break;
        case 'v':
        case 'U':
        case 'G':
        case 'm':
        case 'n':
        case 'e':
        case 'd':
        case 'x':
            break;
        default: die(ex_usage, "unknown option %s", a.c_str());
        }
    }
    for (; i < argc; ++i) o.recipients.push_back(argv[i]);
    return o;
}

// Runs another tern command from command_directory in place of this one.
[[noreturn]] void exec_tool(const config& cfg, const std::string& dir, const char* tool,
                            std::vector<std::string> args) {
    std::string path = cfg.get("command_directory") + "/" + tool;
    std::vector<std::string> argv = {path, "-c", dir};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> av;
    for (auto& s : argv) av.push_back(s.data());
    av.push_back(nullptr);
    ::execv(path.c_str(), av.data());
    die(ex_unavailable, "cannot run %s: %s", path.c_str(), std::strerror(errno));
}

// The message from stdin with LF line ends; without -i a lone "." ends it.
std::string read_message(bool ignore_dots, uint64_t limit) {
    std::string msg, line;
    char buf[65536];
    bool done = false;
    auto take_line = [&](std::string& l) {
        // l includes its LF (or is the last, unterminated line)
        if (!l.empty() && l.back() == '\n') {
            l.pop_back();
            if (!l.empty() && l.back() == '\r') l.pop_back();
            if (!ignore_dots && l == ".") {
                done = true;
                return;
            }
            msg += l;
            msg += '\n';
        } else {
            msg += l;
        }
        if (limit && msg.size() > limit) die(ex_dataerr, "message file too big (more than %llu bytes)",
                                             static_cast<unsigned long long>(limit));
    };
    while (!done) {
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            die(ex_ioerr, "error reading the message: %s", std::strerror(errno));
        }
        if (n == 0) break;
        const char* p = buf;
        const char* end = buf + n;
        while (p < end && !done) {
            const char* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
            if (!lf) {
                line.append(p, end);
                if (limit && line.size() > limit) die(ex_dataerr, "message file too big");
                break;
            }
            line.append(p, lf + 1);
            p = lf + 1;
            take_line(line);
            line.clear();
        }
    }
    if (!done && !line.empty()) take_line(line);
    return msg;
}

// -t: recipients from To, Cc, Bcc (Resent-* when present); Bcc lines removed.
void extract_recipients(const config& cfg, std::string& msg, std::vector<recipient>& out) {
    size_t pos = 0;
    auto end = find_header_end(msg, &pos);
    size_t hsize = end ? end->header_size : msg.size();
    header_limits lim;
    lim.max_size = static_cast<size_t>(cfg.get_size("header_size_limit"));
    auto h = parse_header(std::string_view(msg).substr(0, hsize), lim);
    bool resent = false;
    for (const auto& f : h.fields)
        if (istarts_with(f.name, "Resent-")) resent = true;
    const char* names[3] = {resent ? "Resent-To" : "To", resent ? "Resent-Cc" : "Cc", resent ? "Resent-Bcc" : "Bcc"};
    std::string bcc = names[2];
    std::vector<std::pair<size_t, size_t>> cut;  // Bcc fields to remove
    for (const auto& f : h.fields) {
        if (f.malformed) continue;
        bool take = false;
        for (const char* n : names)
            if (iequals(f.name, n)) take = true;
        if (!take) continue;
        auto list = parse_address_list(f.value());
        for (const auto& a : list.items) {
            if (a.type != mail_address::kind::mailbox || a.local.empty()) continue;
            recipient r;
            r.address = qualify_address(cfg, a.address());
            out.push_back(std::move(r));
        }
        if (iequals(f.name, bcc)) cut.emplace_back(f.offset, f.size);
    }
    for (auto it = cut.rbegin(); it != cut.rend(); ++it) msg.erase(it->first, it->second);
}

uint8_t parse_notify(const std::string& v) {
    uint8_t bits = 0;
    for (const auto& w : split_char(v, ',')) {
        std::string u = to_upper(std::string(trim(w)));
        if (u == "NEVER") bits |= dsn_notify::never;
        else if (u == "SUCCESS") bits |= dsn_notify::success;
        else if (u == "FAILURE") bits |= dsn_notify::failure;
        else if (u == "DELAY") bits |= dsn_notify::delay;
        else die(ex_usage, "bad -N value %s", v.c_str());
    }
    return bits;
}

std::string login_name() {
    struct passwd* pw = ::getpwuid(::getuid());
    if (pw && pw->pw_name) return pw->pw_name;
    return "uid" + std::to_string(::getuid());
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse_args(argc, argv);
    if (o.config_dir.empty()) o.config_dir = TERN_CONFIG_DIR;
    config cfg;
    std::vector<config_error> errors;
    if (!cfg.load(o.config_dir, errors) || !errors.empty()) {
        for (const auto& e : errors) std::fprintf(stderr, "sendmail: %s\n", e.str().c_str());
        die(ex_config, "cannot read %s/main.cf", o.config_dir.c_str());
    }
    switch (o.m) {
    case options::mode::print_queue: exec_tool(cfg, o.config_dir, "postqueue", {"-p"});
    case options::mode::flush: exec_tool(cfg, o.config_dir, "postqueue", {"-f"});
    case options::mode::newaliases: exec_tool(cfg, o.config_dir, "newaliases", {});
    case options::mode::smtp: return run_smtp_session(cfg);
    case options::mode::deliver: break;
    }

    submission sub;
    sub.sender = o.sender_given ? qualify_address(cfg, o.sender) : qualify_address(cfg, login_name());
    sub.full_name = o.full_name;
    sub.envid = o.envid;
    if (!o.ret.empty()) {
        if (iequals(o.ret, "full")) sub.ret = dsn_ret::full;
        else if (iequals(o.ret, "hdrs")) sub.ret = dsn_ret::hdrs;
        else die(ex_usage, "bad -R value %s", o.ret.c_str());
    }
    if (!o.body.empty()) {
        if (iequals(o.body, "8bitmime")) sub.body = body_type::eight_bit_mime;
        else if (iequals(o.body, "7bit")) sub.body = body_type::seven_bit;
        else die(ex_usage, "bad -B value %s", o.body.c_str());
    }
    uint8_t notify = o.notify.empty() ? 0 : parse_notify(o.notify);
    for (const auto& arg : o.recipients) {
        // an argument may hold several addresses: "a@x, b@y"
        auto list = parse_address_list(arg);
        if (list.mailbox_count() == 0) die(ex_usage, "bad recipient address %s", arg.c_str());
        for (const auto& a : list.items) {
            if (a.type != mail_address::kind::mailbox || a.local.empty()) continue;
            recipient r;
            r.address = qualify_address(cfg, a.address());
            sub.recipients.push_back(std::move(r));
        }
    }
    if (::isatty(0) && o.recipients.empty() && !o.extract) usage();
    sub.message = read_message(o.ignore_dots, cfg.get_size("message_size_limit"));
    if (o.extract) extract_recipients(cfg, sub.message, sub.recipients);
    // the same address twice is delivered once
    std::vector<recipient> unique;
    for (auto& r : sub.recipients) {
        bool seen = false;
        for (const auto& u : unique)
            if (u.address == r.address) seen = true;
        if (!seen) {
            r.notify = notify;
            unique.push_back(std::move(r));
        }
    }
    sub.recipients = std::move(unique);
    if (sub.recipients.empty()) die(ex_usage, "no recipient addresses found%s", o.extract ? " in the message header" : "");
    for (unsigned char c : sub.message)
        if (c >= 0x80) {
            if (sub.body == body_type::unspecified) sub.body = body_type::eight_bit_mime;
            break;
        }
    std::string id, err;
    int rc = drop_message(cfg, sub, id, err);
    if (rc != ex_ok) die(rc, "%s", err.c_str());
    return ex_ok;
}
