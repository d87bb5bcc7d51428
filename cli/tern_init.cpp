// tern_init.cpp - `tern init DIR --domain D [--port-base N] [--user NAME:PASSWORD]...`
// writes a self-contained instance: main.cf, master.cf (only the services
// this build has), users (hashed), vmailbox, aliases, a self-signed
// certificate, and the queue, mail, data and log directories.
// Run as root it sets up a privilege-separated instance: mail_owner `tern`
// (created if missing) owns the queue and mailboxes; otherwise everything
// belongs to the invoking user.
// SECURITY: passwords are hashed with yescrypt before they touch the disk;
// the users file and the TLS key are 0600.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <grp.h>
#include <random>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/tern.hpp"
#include "lib/fd.hpp"
#include "lib/passwd.hpp"
#include "lib/privs.hpp"
#include "lib/queue_dir.hpp"
#include "lib/strutil.hpp"
#include "lib/tls.hpp"

namespace tern::cli {
namespace {

struct options {
    std::string dir;
    std::string domain;
    int port_base = 20000;
    std::vector<std::pair<std::string, std::string>> users;
    std::string hostname;
    std::string listen = "127.0.0.1";
    bool force = false;
};

int run_program(const std::vector<std::string>& argv) {
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        std::vector<char*> av;
        for (auto& s : argv) av.push_back(const_cast<char*>(s.c_str()));
        av.push_back(nullptr);
        int nul = ::open("/dev/null", O_WRONLY);
        if (nul >= 0) ::dup2(nul, 1);
        ::execv(av[0], av.data());
        _exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ensure_system_account(const std::string& user, const std::string& group) {
    if (!lookup_group(group)) {
        if (run_program({"/usr/sbin/groupadd", "--system", group}) != 0 && !lookup_group(group)) {
            std::fprintf(stderr, "tern init: cannot create group %s (groupadd failed)\n", group.c_str());
            return false;
        }
    }
    if (!lookup_account(user)) {
        if (run_program({"/usr/sbin/useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                         "/usr/sbin/nologin", "--user-group", user}) != 0 &&
            !lookup_account(user)) {
            std::fprintf(stderr, "tern init: cannot create account %s (useradd failed)\n", user.c_str());
            return false;
        }
    }
    return true;
}

bool write_text(const std::string& path, const std::string& text, mode_t mode) {
    if (!write_file_atomic(path, text, mode)) {
        std::fprintf(stderr, "tern init: cannot write %s: %s\n", path.c_str(), errno_text().c_str());
        return false;
    }
    return true;
}

bool make_dir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
    if (!make_dirs(path, mode)) {
        std::fprintf(stderr, "tern init: cannot create %s: %s\n", path.c_str(), errno_text().c_str());
        return false;
    }
    ::chmod(path.c_str(), mode);
    if (::geteuid() == 0 && ::chown(path.c_str(), uid, gid) != 0) {
        std::fprintf(stderr, "tern init: chown %s: %s\n", path.c_str(), errno_text().c_str());
        return false;
    }
    return true;
}

std::string random_password() {
    static const char set[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    std::random_device rd;
    std::string p;
    for (int i = 0; i < 16; ++i) p += set[rd() % (sizeof set - 1)];
    return p;
}

// One master.cf line per service; a line is written only when its program
// exists in this build, so nothing listed is a stub.
struct svc_line {
    const char* program;
    int port_offset;  // 0: unix service
    const char* text; // after the service name
};

const svc_line kServices[] = {
    {"smtpd", 25, "inet  n  -  y  -  -  smtpd"},
    {"smtpd", 587, "inet  n  -  y  -  -  smtpd\n"
                   "  -o syslog_name=tern/submission\n"
                   "  -o smtpd_tls_security_level=encrypt\n"
                   "  -o smtpd_sasl_auth_enable=yes\n"
                   "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
                   "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"},
    {"smtpd", 465, "inet  n  -  y  -  -  smtpd\n"
                   "  -o syslog_name=tern/smtps\n"
                   "  -o smtpd_tls_wrappermode=yes\n"
                   "  -o smtpd_sasl_auth_enable=yes\n"
                   "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
                   "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"},
    {"pop3d", 110, "inet  n  -  n  -  -  pop3d"},
    {"pop3d", 995, "inet  n  -  n  -  -  pop3d\n  -o pop3d_tls_wrappermode=yes"},
    {"imapd", 143, "inet  n  -  n  -  -  imapd"},
    {"imapd", 993, "inet  n  -  n  -  -  imapd\n  -o imapd_tls_wrappermode=yes"},
    {"pickup", 0, "pickup    unix  n  -  n  60 1  pickup"},
    {"qmgr", 0, "qmgr      unix  n  -  y  300 1  qmgr"},
    {"local-delivery", 0, "local     unix  -  n  n  -  -  local-delivery"},
    {"smtp-client", 0, "smtp      unix  -  -  y  -  -  smtp-client"},
    {"spamd", 0, "spamd     unix  -  -  n  -  1  spamd"},
    {"spamd", 0, "spamc     unix  -  -  n  -  1  spamd content"},
    {"auth", 0, "auth      unix  -  -  n  -  1  auth"},
};

}  // namespace

int cmd_init(const std::vector<std::string>& args) {
    options o;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                std::fprintf(stderr, "tern init: %s needs a value\n", a.c_str());
                std::exit(64);
            }
            return args[++i];
        };
        if (a == "--domain") o.domain = to_lower(next());
        else if (a == "--port-base") {
            auto n = parse_u64(next());
            if (!n || *n > 64535) {
                std::fprintf(stderr, "tern init: --port-base must be 0..64535\n");
                return 64;
            }
            o.port_base = static_cast<int>(*n);
        } else if (a == "--user") {
            std::string v = next();
            auto c = v.find(':');
            if (c == std::string::npos || c == 0 || c + 1 == v.size()) {
                std::fprintf(stderr, "tern init: --user wants NAME:PASSWORD\n");
                return 64;
            }
            o.users.emplace_back(to_lower(v.substr(0, c)), v.substr(c + 1));
        } else if (a == "--hostname") o.hostname = next();
        else if (a == "--listen") o.listen = next();
        else if (a == "--force") o.force = true;
        else if (!a.empty() && a[0] != '-' && o.dir.empty()) o.dir = a;
        else {
            std::fprintf(stderr, "usage: tern init DIR --domain D [--port-base N] [--user NAME:PASSWORD]... "
                                 "[--hostname H] [--listen ADDR] [--force]\n");
            return 64;
        }
    }
    if (o.dir.empty() || o.domain.empty()) {
        std::fprintf(stderr, "usage: tern init DIR --domain D [--port-base N] [--user NAME:PASSWORD]...\n");
        return 64;
    }
    if (o.domain.find_first_of(" /:@") != std::string::npos || o.domain.find('.') == std::string::npos) {
        std::fprintf(stderr, "tern init: --domain %s is not a domain name\n", o.domain.c_str());
        return 64;
    }
    if (o.hostname.empty()) o.hostname = "mail." + o.domain;
    if (o.dir[0] != '/') {
        char cwd[4096];
        if (!::getcwd(cwd, sizeof cwd)) return 1;
        o.dir = std::string(cwd) + "/" + o.dir;
    }
    while (o.dir.size() > 1 && o.dir.back() == '/') o.dir.pop_back();
    if (::access((o.dir + "/main.cf").c_str(), F_OK) == 0 && !o.force) {
        std::fprintf(stderr, "tern init: %s/main.cf exists; not overwriting (use --force)\n", o.dir.c_str());
        return 1;
    }

    bool root = ::geteuid() == 0;
    std::string owner, group;
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (root) {
        owner = "tern";
        group = "terndrop";
        if (!ensure_system_account(owner, group)) return 1;
        auto acct = lookup_account(owner);
        if (!acct || acct->uid == 0) {
            std::fprintf(stderr, "tern init: account %s is missing or has uid 0\n", owner.c_str());
            return 1;
        }
        uid = acct->uid;
        gid = acct->gid;
    } else {
        auto acct = lookup_account(::getuid());
        owner = acct ? acct->name : std::to_string(::getuid());
        struct group* gr = ::getgrgid(::getgid());
        group = gr ? gr->gr_name : std::to_string(::getgid());
    }

    std::string daemon_dir = program_directory(true);
    std::string command_dir = program_directory(false);
    const std::string& D = o.dir;
    // root owns the configuration; mail_owner owns what daemons write
    if (!make_dir(D, 0755, 0, 0)) return 1;
    if (!make_dir(D + "/tls", 0755, 0, 0) || !make_dir(D + "/log", 0755, 0, 0)) return 1;
    if (!make_dir(D + "/queue", 0755, 0, 0)) return 1;
    for (const char* q : {"incoming", "active", "deferred", "hold", "corrupt", "bounce", "defer", "private"})
        if (!make_dir(D + "/queue/" + q, 0700, uid, gid)) return 1;
    if (!make_dir(D + "/queue/public", 0755, uid, gid) || !make_dir(D + "/queue/pid", 0755, 0, 0)) return 1;
    {
        gid_t drop_gid = root ? lookup_group(group).value_or(gid) : gid;
        if (!make_dir(D + "/queue/maildrop", root ? 01730 : 0700, uid, drop_gid)) return 1;
        // the rest of the queue tree (tmp/ for files being written, id.seq for queue IDs)
        queue_tree_owner qo;
        if (root) qo = {.uid = uid, .gid = gid, .setgid_group = drop_gid};
        std::string qerr;
        if (!create_queue_tree(queue_dir(D + "/queue"), qo, qerr)) {
            std::fprintf(stderr, "tern init: %s\n", qerr.c_str());
            return 1;
        }
    }
    if (!make_dir(D + "/mail", 0700, uid, gid) || !make_dir(D + "/data", 0700, uid, gid)) return 1;

    // a daemon running as mail_owner must be able to reach DIR
    if (root) {
        for (std::string p = D; p != "/" && !p.empty(); p = dirname_of(p)) {
            struct stat st;
            if (::stat(p.c_str(), &st) == 0 && (st.st_mode & 0001) == 0) {
                std::fprintf(stderr,
                             "tern init: warning: %s is not searchable by others (mode %03o); the unprivileged "
                             "daemons (user %s) cannot reach %s\n",
                             p.c_str(), st.st_mode & 0777, owner.c_str(), D.c_str());
                break;
            }
        }
    }

    char stamp[64];
    std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
    auto port = [&](int off) { return std::to_string(o.port_base + off); };

    std::string main_cf =
        "# main.cf - tern instance made by `tern init` on " + std::string(stamp) + ".\n"
        "# Postfix parameter names; `tern -c " + D + " config` shows every value,\n"
        "# `tern -c " + D + " config -n` only those set here.\n\n"
        "# where things live\n"
        "queue_directory = " + D + "/queue\n"
        "data_directory = " + D + "/data\n"
        "daemon_directory = " + daemon_dir + "\n"
        "command_directory = " + command_dir + "\n"
        "maillog_file = " + D + "/log/maillog\n\n"
        "# who runs it\n"
        "mail_owner = " + owner + "\n"
        "setgid_group = " + group + "\n\n"
        "# identity and routing\n"
        "myhostname = " + o.hostname + "\n"
        "mydomain = " + o.domain + "\n"
        "myorigin = $mydomain\n"
        "mydestination = $myhostname, localhost\n"
        "inet_interfaces = " + o.listen + "\n"
        "mynetworks = 127.0.0.0/8 [::1]/128\n\n"
        "# the users of this instance are virtual mailboxes under mail/\n"
        "virtual_mailbox_domains = $mydomain\n"
        "virtual_mailbox_maps = texthash:" + D + "/vmailbox\n"
        "virtual_mailbox_base = " + D + "/mail\n"
        "alias_maps = hash:" + D + "/aliases\n"
        "alias_database = hash:" + D + "/aliases\n\n"
        "# logins (crypt(3) hashes, read only by the auth service)\n"
        "auth_password_maps = passwd:" + D + "/users\n\n"
        "# TLS for smtpd, pop3d and imapd (self-signed; replace with a real certificate)\n"
        "tls_cert_file = " + D + "/tls/cert.pem\n"
        "tls_key_file = " + D + "/tls/key.pem\n";

    // spam defence when this build has spamd: smtpd asks its content service
    // after DATA (smtpd_content_check_service); policy checks stay opt-in
    // (smtpd_recipient_restrictions = ..., check_policy_service unix:private/spamd)
    if (::access((daemon_dir + "/spamd").c_str(), X_OK) == 0)
        main_cf += "\n# content check after DATA by spamd's classifier (private/spamc)\n"
                   "smtpd_content_check_service = private/spamc\n";

    std::string master_cf =
        "# master.cf - services of this tern instance (port base " + std::to_string(o.port_base) + ").\n"
        "# Only services whose programs exist in this build are listed.\n"
        "# ==========================================================================\n"
        "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
        "# ==========================================================================\n";
    std::vector<std::string> listed;
    for (const auto& s : kServices) {
        if (::access((daemon_dir + "/" + s.program).c_str(), X_OK) != 0) continue;
        if (s.port_offset) {
            std::string name = port(s.port_offset);
            name.resize(std::max<size_t>(name.size(), 9), ' ');
            master_cf += name + " " + s.text + "\n";
            listed.push_back(std::string(s.program) + ":" + port(s.port_offset));
        } else {
            master_cf += std::string(s.text) + "\n";
            listed.push_back(s.program);
        }
    }

    std::string users, vmailbox = "# address  mailbox (relative to virtual_mailbox_base; trailing / = maildir)\n";
    bool generated = false;
    if (o.users.empty()) {
        o.users.emplace_back("postmaster", random_password());
        generated = true;
    }
    for (auto& [name, pw] : o.users) {
        std::string addr = name.find('@') == std::string::npos ? name + "@" + o.domain : name;
        std::string h = hash_password(pw);
        if (h.empty()) {
            std::fprintf(stderr, "tern init: cannot hash the password of %s\n", addr.c_str());
            return 1;
        }
        users += addr + ":" + h + "\n";
        vmailbox += addr + "  " + addr + "/\n";
    }
    std::string aliases =
        "# aliases - local aliases (name: target, ...); run `newaliases -c " + D + "` after editing.\n"
        "postmaster: " + o.users.front().first + (o.users.front().first.find('@') == std::string::npos ? "@" + o.domain : "") + "\n"
        "abuse: postmaster\n"
        "mailer-daemon: postmaster\n"
        "root: postmaster\n";

    if (!write_text(D + "/main.cf", main_cf, 0644) || !write_text(D + "/master.cf", master_cf, 0644) ||
        !write_text(D + "/users", users, 0600) || !write_text(D + "/vmailbox", vmailbox, 0644) ||
        !write_text(D + "/aliases", aliases, 0644))
        return 1;
    if (!root) {
        // non-root: the instance user owns everything already
    }
    std::string err;
    if (!make_self_signed(o.hostname, D + "/tls/cert.pem", D + "/tls/key.pem", 3650, err)) {
        std::fprintf(stderr, "tern init: %s\n", err.c_str());
        return 1;
    }
    // build the alias table when this build has newaliases
    std::string newaliases = command_dir + "/newaliases";
    if (::access(newaliases.c_str(), X_OK) == 0 && run_program({newaliases, "-c", D}) != 0)
        std::fprintf(stderr, "tern init: warning: newaliases failed\n");

    std::printf("tern: instance created in %s\n", D.c_str());
    std::printf("  domain %s, host name %s, listening on %s\n", o.domain.c_str(), o.hostname.c_str(), o.listen.c_str());
    std::printf("  services: %s\n", join(listed, " ").c_str());
    for (auto& [name, pw] : o.users) {
        std::string addr = name.find('@') == std::string::npos ? name + "@" + o.domain : name;
        if (generated)
            std::printf("  user %s, password %s\n", addr.c_str(), pw.c_str());
        else
            std::printf("  user %s\n", addr.c_str());
    }
    std::printf("  start it with: tern -c %s start\n", D.c_str());
    return 0;
}

}  // namespace tern::cli
