// tern_check.cpp - `tern check` (configuration, tables, directories and
// permissions, every problem with file:line) and `tern config` (effective
// parameter values, like postconf).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/tern.hpp"
#include "lib/config.hpp"
#include "lib/fd.hpp"
#include "lib/master_cf.hpp"
#include "lib/passwd.hpp"
#include "lib/privs.hpp"
#include "lib/strutil.hpp"

namespace tern::cli {
namespace {

struct checker {
    int problems = 0;
    void report(const std::string& where, const std::string& what) {
        ++problems;
        if (where.empty())
            std::printf("tern check: %s\n", what.c_str());
        else
            std::printf("tern check: %s: %s\n", where.c_str(), what.c_str());
    }
    void report(const config_error& e) {
        ++problems;
        std::printf("tern check: %s\n", e.str().c_str());
    }
};

std::string mode_str(mode_t m) {
    char b[8];
    std::snprintf(b, sizeof b, "%04o", m & 07777);
    return b;
}

// path must exist, be a directory, owned by uid and without bits outside `allowed`
void check_dir(checker& c, const std::string& path, uid_t uid, mode_t allowed, bool need_owner) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        c.report(path, "missing directory (" + errno_text() + ")");
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        c.report(path, "not a directory");
        return;
    }
    if (need_owner && st.st_uid != uid)
        c.report(path, "owned by uid " + std::to_string(st.st_uid) + ", expected uid " + std::to_string(uid));
    if ((st.st_mode & 07777 & ~allowed) != 0)
        c.report(path, "mode " + mode_str(st.st_mode) + " is too open (at most " + mode_str(allowed) + ")");
}

void check_private_file(checker& c, const std::string& path, const char* what) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        c.report(path, std::string(what) + " missing (" + errno_text() + ")");
        return;
    }
    if (st.st_mode & 0077)
        c.report(path, std::string(what) + " has mode " + mode_str(st.st_mode) + "; it must not be readable by others (0600)");
    if (::geteuid() == 0 && st.st_uid != 0) c.report(path, std::string(what) + " must be owned by root");
}

// A file the administrator owns: owned by root in system mode, writable by no one else.
void check_root_file(checker& c, const std::string& path, bool system_mode) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return;  // missing files are reported elsewhere
    if (system_mode && st.st_uid != 0)
        c.report(path, "owned by uid " + std::to_string(st.st_uid) + "; it must be owned by root");
    if (st.st_mode & 0022)
        c.report(path, "mode " + mode_str(st.st_mode) + " is writable by others (at most 0644)");
}

// Every queue file under dir (hash subdirectories included): owned by
// mail_owner, readable by no one else. maildrop files are 0644 once complete.
void check_queue_files(checker& c, const std::string& dir, uid_t uid, bool need_owner, mode_t allowed, int depth = 0) {
    unique_fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) return;
    DIR* dp = ::fdopendir(d.get());
    if (!dp) return;
    (void)d.release();
    std::vector<std::string> names;
    while (auto* e = ::readdir(dp)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(dp);
    std::sort(names.begin(), names.end());
    int shown = 0;
    for (const auto& n : names) {
        std::string path = dir + "/" + n;
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 3) {
                check_dir(c, path, uid, 0700, need_owner);
                check_queue_files(c, path, uid, need_owner, allowed, depth + 1);
            }
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            c.report(path, "not a regular file");
            continue;
        }
        bool bad_owner = need_owner && st.st_uid != uid;
        bool bad_mode = (st.st_mode & 07777 & ~allowed) != 0;
        if ((bad_owner || bad_mode) && ++shown > 20) {
            ++c.problems;  // counted, not printed: one broken tree must not flood the output
            continue;
        }
        if (bad_owner)
            c.report(path, "queue file owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                               std::to_string(uid));
        if (bad_mode)
            c.report(path, "queue file has mode " + mode_str(st.st_mode) + "; at most " + mode_str(allowed));
    }
    if (shown > 20) std::printf("tern check: %s: %d more files with wrong owner or mode\n", dir.c_str(), shown - 20);
}

}  // namespace

int cmd_check(const std::string& config_dir, const std::vector<std::string>&) {
    checker c;
    config cfg;
    std::vector<config_error> errs;
    cfg.load(config_dir, errs);
    cfg.validate(errs);
    for (auto& e : cfg.unknown_names()) errs.push_back(e);
    for (auto& e : errs) c.report(e);

    std::vector<service_entry> services;
    std::vector<config_error> merrs;
    load_master_cf(config_dir, services, merrs);
    for (auto& e : merrs) c.report(e);
    std::string ddir = cfg.get("daemon_directory");
    for (const auto& s : services) {
        std::string prog = ddir + "/" + s.command;
        if (::access(prog.c_str(), X_OK) != 0) c.report(s.origin(), "service " + s.name + ": cannot execute " + prog);
        for (const auto& [n, v] : s.overrides) {
            if (!find_param(n)) c.report(s.origin(), "service " + s.name + ": -o " + n + ": unknown parameter");
            else {
                config probe = cfg;
                probe.set(n, v, s.origin());
                std::vector<config_error> perr;
                probe.validate(perr);
                for (auto& e : perr)
                    if (e.reason.rfind(n + " ", 0) == 0) c.report(s.origin(), "service " + s.name + ": -o " + e.reason);
            }
        }
    }
    if (::access((ddir + "/master").c_str(), X_OK) != 0) c.report("daemon_directory", ddir + "/master is not executable");

    // accounts
    std::string owner = cfg.get("mail_owner");
    auto acct = lookup_account(owner);
    uid_t owner_uid = ::geteuid();
    if (!acct)
        c.report("mail_owner", "account " + owner + " does not exist");
    else {
        owner_uid = acct->uid;
        if (acct->uid == 0) c.report("mail_owner", "account " + owner + " has uid 0; it must be unprivileged");
    }
    bool system_mode = ::geteuid() == 0;

    // directories
    std::string q = cfg.get("queue_directory");
    check_dir(c, q, 0, 0755, false);
    for (const char* d : {"incoming", "active", "deferred", "hold", "corrupt", "bounce", "private"})
        check_dir(c, q + "/" + d, owner_uid, 0700, system_mode || acct);
    check_dir(c, q + "/public", owner_uid, 0755, system_mode || acct);
    check_dir(c, q + "/maildrop", owner_uid, 01730, system_mode || acct);
    check_dir(c, q + "/tmp", owner_uid, 0700, system_mode || acct);
    bool own = system_mode || acct.has_value();
    for (const char* d : {"incoming", "active", "deferred", "hold", "corrupt"})
        check_queue_files(c, q + "/" + d, owner_uid, own, 0600);
    check_queue_files(c, q + "/maildrop", owner_uid, false, 0644);
    {
        struct stat st;
        std::string seq = q + "/id.seq";
        if (::stat(seq.c_str(), &st) == 0) {
            if (own && st.st_uid != owner_uid) c.report(seq, "owned by uid " + std::to_string(st.st_uid) + ", expected uid " + std::to_string(owner_uid));
            if (st.st_mode & 0077) c.report(seq, "mode " + mode_str(st.st_mode) + " is too open (at most 0600)");
        }
    }
    // the configuration: root's, changed by no one else
    check_root_file(c, config_dir + "/main.cf", system_mode);
    check_root_file(c, config_dir + "/master.cf", system_mode);
    if (system_mode) {
        // the jail and the directories above it must not be mail_owner's to change
        struct stat st;
        if (::stat(q.c_str(), &st) == 0 && acct && st.st_uid == acct->uid)
            c.report(q, "owned by mail_owner; the queue directory (the chroot jail) must be owned by root");
    }
    std::string data = cfg.get("data_directory");
    check_dir(c, data, owner_uid, 0700, system_mode || acct);
    std::string vbase = cfg.get("virtual_mailbox_base");
    if (!vbase.empty()) check_dir(c, vbase, owner_uid, 0700, system_mode || acct);

    // secrets
    for (const auto& src : cfg.get_list("auth_password_maps")) {
        auto colon = src.find(':');
        std::string type = colon == std::string::npos ? "passwd" : src.substr(0, colon);
        std::string path = colon == std::string::npos ? src : src.substr(colon + 1);
        if (type != "passwd") {
            std::string file = (type == "hash" || type == "btree") ? path + ".db" : path;
            check_private_file(c, file, "password table");
            continue;
        }
        check_private_file(c, path, "password file");
        if (auto text = read_file(path, 64u << 20)) {
            std::vector<config_error> perr;
            parse_passwd_file(*text, path, perr);
            for (auto& e : perr) c.report(e);
        }
    }
    std::string cert = cfg.get("tls_cert_file"), key = cfg.get("tls_key_file");
    if (!cert.empty() && ::access(cert.c_str(), R_OK) != 0) c.report(cert, "certificate not readable (" + errno_text() + ")");
    if (!key.empty()) check_private_file(c, key, "TLS private key");

    // tables named in the configuration must exist
    for (const char* p : {"alias_maps", "virtual_mailbox_maps", "virtual_alias_maps"}) {
        for (const auto& t : cfg.get_list(p)) {
            auto colon = t.find(':');
            if (colon == std::string::npos) {
                c.report(p, "\"" + t + "\" is not of the form type:name");
                continue;
            }
            std::string type = t.substr(0, colon), name = t.substr(colon + 1);
            std::string file = (type == "hash" || type == "btree") ? name + ".db" : name;
            if (type == "inline" || type == "static") continue;
            if (::access(file.c_str(), R_OK) != 0)
                c.report(p, t + ": " + file + " not readable (" + errno_text() + ")" +
                                ((type == "hash" || type == "btree") ? "; build it with tern-map or newaliases" : ""));
        }
    }

    if (c.problems == 0) {
        std::printf("tern check: %s: no problems found\n", config_dir.c_str());
        return 0;
    }
    std::printf("tern check: %d problem%s found\n", c.problems, c.problems == 1 ? "" : "s");
    return 1;
}

int cmd_config(const std::string& config_dir, const std::vector<std::string>& args) {
    bool only_set = false, defaults = false, expand = false;
    std::vector<std::string> names;
    for (const auto& a : args) {
        if (a == "-n") only_set = true;
        else if (a == "-d") defaults = true;
        else if (a == "-x") expand = true;
        else if (a == "--man-table") {
            // roff rows for main.cf(5), generated at build time from the table
            for (auto d : all_params()) {
                std::string dflt = d->default_value;
                if (dflt == "!hostname") dflt = "(the system host name)";
                if (dflt == "!domain") dflt = "($myhostname minus its first label)";
                auto esc = [](std::string v) {
                    std::string r;
                    for (char ch : v) {
                        if (ch == '\\') r += "\\e";
                        else r += ch;
                    }
                    if (!r.empty() && (r[0] == '.' || r[0] == '\'')) r = "\\&" + r;
                    return r;
                };
                std::printf(".TP\n.BR %s \" (%s, default: %s)\"\n%s\n", d->name, param_type_name(d->type),
                            dflt.empty() ? "empty" : esc(dflt).c_str(), esc(d->doc).c_str());
            }
            return 0;
        }
        else if (!a.empty() && a[0] == '-') {
            std::fprintf(stderr, "usage: tern [-c DIR] config [-n] [-d] [-x] [name...]\n");
            return 64;
        } else names.push_back(a);
    }
    config cfg;
    std::vector<config_error> errs;
    if (!defaults) {
        cfg.load(config_dir, errs);
        for (const auto& e : errs) std::fprintf(stderr, "tern config: %s\n", e.str().c_str());
    }
    auto show = [&](const std::string& n) {
        std::string v = expand ? cfg.get(n) : cfg.raw(n).value_or("");
        std::printf("%s =%s%s\n", n.c_str(), v.empty() ? "" : " ", v.c_str());
    };
    int rc = errs.empty() ? 0 : 1;
    if (!names.empty()) {
        for (const auto& n : names) {
            if (!find_param(n) && !cfg.is_set(n)) {
                std::fprintf(stderr, "tern config: warning: %s: unknown parameter\n", n.c_str());
                rc = 1;
                continue;
            }
            show(n);
        }
        return rc;
    }
    if (only_set) {
        auto set = cfg.explicit_names();
        std::sort(set.begin(), set.end());
        for (const auto& n : set) show(n);
        return rc;
    }
    for (auto d : all_params()) show(d->name);
    return rc;
}

}  // namespace tern::cli
