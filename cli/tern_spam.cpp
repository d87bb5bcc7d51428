// tern_spam.cpp - `tern-spam [-c DIR] [-v] command [args]`: the spam tool's
// dispatcher (one file per sub-command: tern_spam_<command>.cpp), plus what
// the sub-commands share: classifier settings, the switch to the database owner
// for database work, the progress bar.
// Exit: 0 done, 64 usage, 75 temporary failure (database), 78 configuration.
// SECURITY: run by administrators (often as root); database files are
// created as the owner of the database directory (mail_owner) so that
// spamd can use them.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "cli/cli_config.hpp"
#include "cli/tern_spam.hpp"
#include "lib/log.hpp"
#include "lib/fd.hpp"
#include "lib/privs.hpp"

using namespace tern;
using namespace tern::spam_cli;

namespace {

struct command {
    const char* name;
    command_fn fn;
    const char* usage;
};

// The sub-commands; add a row (and a tern_spam_<name>.cpp) for a new one.
const command commands[] = {
    {"learn", cmd_learn, "learn --spam|--ham [--unlearn] [--user U] FILE|DIR|MBOX...   train the classifier"},
    {"classify", cmd_classify, "classify [--user U] FILE...   print score, verdict (spam, ham, unsure) and file"},
    {"tokens", cmd_tokens, "tokens FILE...   print the tokens the classifier sees in a message"},
};

int usage(int rc) {
    std::fprintf(rc ? stderr : stdout, "usage: tern-spam [-c config_dir] [-v] command [args]\ncommands:\n");
    for (const auto& c : commands) std::fprintf(rc ? stderr : stdout, "  %s\n", c.usage);
    return rc;
}

int64_t mono_ns() {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

namespace tern::spam_cli {

bool load_settings(const context& ctx, bayes::settings& out) {
    std::string err;
    if (!bayes::settings::from_config(ctx.cfg, out, err)) {
        std::fprintf(stderr, "tern-spam: %s\n", err.c_str());
        return false;
    }
    return true;
}

db_identity::db_identity(const config& cfg) {
    if (::geteuid() != 0) return;
    // the owner of the database directory, or of its nearest existing
    // parent (data_directory belongs to mail_owner in an instance)
    std::string dir = cfg.get("bayes_directory");
    struct stat st;
    while (!dir.empty() && ::stat(dir.c_str(), &st) != 0) {
        std::string up = dirname_of(dir);
        if (up == dir) break;
        dir = up;
    }
    if (dir.empty() || ::stat(dir.c_str(), &st) != 0 || st.st_uid == 0) return;
    std::string err;
    if (!become_effective(st.st_uid, st.st_gid, err)) {
        log::warn("cannot act as uid %u for the token databases: %s", unsigned(st.st_uid), err.c_str());
        return;
    }
    _switched = true;
}

db_identity::~db_identity() {
    if (!_switched) return;
    std::string err;
    if (!restore_root(err)) log::fatal("cannot return to root: %s", err.c_str());
}

progress::progress(std::string label, size_t total) : _label(std::move(label)), _total(total) {
    _tty = ::isatty(STDOUT_FILENO) == 1;
}

void progress::step(size_t done, size_t messages) {
    if (!_tty) return;
    int64_t now = mono_ns();
    if (done < _total && now - _last_ns < 100000000) return;  // at most 10 frames a second
    _last_ns = now;
    constexpr int width = 30;
    int filled = _total ? int(double(done) / double(_total) * width) : width;
    std::string bar(size_t(filled), '#');
    bar.resize(width, '.');
    std::printf("\r%s [%s] %3d%% %zu/%zu files, %zu messages", _label.c_str(), bar.c_str(),
                _total ? int(100.0 * double(done) / double(_total)) : 100, done, _total, messages);
    std::fflush(stdout);
    _drawn = true;
}

void progress::finish() {
    if (_drawn) std::printf("\n");
    _drawn = false;
}

}  // namespace tern::spam_cli

int main(int argc, char** argv) {
    log::init("tern-spam", log::sink::stderr_stream, false);
    context ctx;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-c" && i + 1 < argc) {
            ctx.config_dir = argv[++i];
            ctx.explicit_dir = true;
        } else if (a.rfind("-c", 0) == 0 && a.size() > 2) {
            ctx.config_dir = a.substr(2);
            ctx.explicit_dir = true;
        } else if (a == "-v") {
            log::set_verbose(true);
        } else if (a == "-h" || a == "--help") {
            return usage(0);
        } else {
            break;
        }
    }
    if (i >= argc) return usage(cli::ex_usage);
    std::string name = argv[i++];
    std::vector<std::string> args(argv + i, argv + argc);
    if (!ctx.explicit_dir) {
        const char* env = std::getenv("TERN_CONFIG_DIR");
        ctx.config_dir = env && *env ? env : TERN_CONFIG_DIR;
    }
    for (const auto& c : commands) {
        if (name != c.name) continue;
        if (!cli::load_config(ctx.cfg, ctx.config_dir, ctx.explicit_dir)) return cli::ex_config;
        return c.fn(ctx, args);
    }
    std::fprintf(stderr, "tern-spam: unknown command \"%s\"\n", name.c_str());
    return usage(cli::ex_usage);
}
