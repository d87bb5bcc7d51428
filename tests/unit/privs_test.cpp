// privs_test.cpp - account lookup and dropping root for good (when root).
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include "lib/privs.hpp"

using namespace tern;

TEST_CASE("account lookups") {
    auto root = lookup_account("root");
    REQUIRE(root);
    CHECK(root->uid == 0);
    auto by_uid = lookup_account(static_cast<uid_t>(0));
    REQUIRE(by_uid);
    CHECK(by_uid->name == "root");
    CHECK_FALSE(lookup_account("no-such-user-tern-test"));
    CHECK(lookup_group("root") == static_cast<gid_t>(0));
    CHECK_FALSE(lookup_group("no-such-group-tern-test"));
}

TEST_CASE("drop_privileges cannot be undone") {
    if (::geteuid() != 0) {
        std::string err;
        CHECK_FALSE(drop_privileges(0, 0, err));  // not root: cannot become root
        CHECK(err.find("not running as root") != std::string::npos);
        return;
    }
    auto nobody = lookup_account("nobody");
    REQUIRE(nobody);
    pid_t pid = ::fork();
    if (pid == 0) {
        std::string err;
        if (!drop_privileges(nobody->uid, nobody->gid, err)) _exit(2);
        if (::setuid(0) == 0 || ::seteuid(0) == 0) _exit(3);
        gid_t groups[4];
        int n = ::getgroups(4, groups);
        if (n != 1 || groups[0] != nobody->gid) _exit(4);
        _exit(::getuid() == nobody->uid && ::geteuid() == nobody->uid ? 0 : 5);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
