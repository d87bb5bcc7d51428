// privs.hpp - account lookup, dropping root for good, and chroot.
// SECURITY: drop_privileges() clears supplementary groups, sets gid then uid,
// and verifies that root cannot be regained; callers exit if it fails.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

namespace tern {

struct account {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
    std::string shell;
};

std::optional<account> lookup_account(const std::string& name);
std::optional<account> lookup_account(uid_t uid);
std::optional<gid_t> lookup_group(const std::string& name);

// setgroups({gid}), setgid, setuid, then check that setuid(0) fails.
bool drop_privileges(uid_t uid, gid_t gid, std::string& err);
// Switch effective ids only (to act as a user temporarily, as root).
bool become_effective(uid_t uid, gid_t gid, std::string& err);
bool restore_root(std::string& err);

bool chroot_to(const std::string& dir, std::string& err);
// True once this process has chrooted (chroot_to succeeded): files outside
// the jail, such as lookup tables, can no longer be reopened by path.
bool in_chroot();

}  // namespace tern
