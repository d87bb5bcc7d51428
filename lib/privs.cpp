// privs.cpp - see privs.hpp.
#include "lib/privs.hpp"

#include <cerrno>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <vector>

#include "lib/fd.hpp"

namespace tern {

static std::optional<account> from_pw(struct passwd* pw) {
    if (!pw) return std::nullopt;
    return account{pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : "", pw->pw_shell ? pw->pw_shell : ""};
}

std::optional<account> lookup_account(const std::string& name) {
    struct passwd pw, *res = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0) return std::nullopt;
    return from_pw(res);
}

std::optional<account> lookup_account(uid_t uid) {
    struct passwd pw, *res = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) != 0) return std::nullopt;
    return from_pw(res);
}

std::optional<gid_t> lookup_group(const std::string& name) {
    struct group gr, *res = nullptr;
    std::vector<char> buf(16384);
    if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res) != 0 || !res) return std::nullopt;
    return res->gr_gid;
}

bool drop_privileges(uid_t uid, gid_t gid, std::string& err) {
    if (::geteuid() != 0 && ::getuid() != 0) {
        if (::geteuid() == uid) return true;
        err = "not running as root, cannot switch to uid " + std::to_string(uid);
        return false;
    }
    if (::setgroups(1, &gid) != 0) {
        err = "setgroups: " + errno_text();
        return false;
    }
    if (::setresgid(gid, gid, gid) != 0) {
        err = "setgid: " + errno_text();
        return false;
    }
    if (::setresuid(uid, uid, uid) != 0) {
        err = "setuid: " + errno_text();
        return false;
    }
    if (uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
        err = "privileges could be regained after dropping them";
        return false;
    }
    if (::getuid() != uid || ::geteuid() != uid || ::getgid() != gid || ::getegid() != gid) {
        err = "ids not as requested after dropping privileges";
        return false;
    }
    return true;
}

bool become_effective(uid_t uid, gid_t gid, std::string& err) {
    if (::setgroups(1, &gid) != 0 || ::setegid(gid) != 0 || ::seteuid(uid) != 0) {
        err = "cannot switch to uid " + std::to_string(uid) + ": " + errno_text();
        return false;
    }
    return true;
}

bool restore_root(std::string& err) {
    if (::seteuid(0) != 0 || ::setegid(0) != 0) {
        err = "cannot restore root: " + errno_text();
        return false;
    }
    gid_t g = 0;
    ::setgroups(1, &g);
    return true;
}

namespace {
bool g_in_chroot = false;
}

bool chroot_to(const std::string& dir, std::string& err) {
    if (::chdir(dir.c_str()) != 0 || ::chroot(dir.c_str()) != 0 || ::chdir("/") != 0) {
        err = "chroot " + dir + ": " + errno_text();
        return false;
    }
    g_in_chroot = true;
    return true;
}

bool in_chroot() { return g_in_chroot; }

}  // namespace tern
