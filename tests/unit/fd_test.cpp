// fd_test.cpp - fd owner, atomic file writes, locks.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fd.hpp"

using namespace tern;

static std::string tmpdir() {
    char tmpl[] = "/tmp/tern-fd-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    return tmpl;
}

TEST_CASE("unique_fd closes and moves") {
    int raw;
    {
        unique_fd a(::open("/dev/null", O_RDONLY));
        REQUIRE(a);
        raw = a.get();
        unique_fd b(std::move(a));
        CHECK_FALSE(a);
        CHECK(b.get() == raw);
    }
    CHECK(::fcntl(raw, F_GETFD) == -1);
}

TEST_CASE("atomic write, read back, dirs") {
    auto d = tmpdir();
    REQUIRE(make_dirs(d + "/x/y/z"));
    REQUIRE(write_file_atomic(d + "/x/f", "hello", 0640));
    CHECK(read_file(d + "/x/f") == std::string("hello"));
    struct stat st;
    REQUIRE(::stat((d + "/x/f").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    CHECK_FALSE(read_file(d + "/x/f", 3));
    CHECK_FALSE(read_file(d + "/missing"));
    CHECK(dirname_of("/a/b/c") == "/a/b");
    CHECK(basename_of("/a/b/c") == "c");
    CHECK(dirname_of("c") == ".");
    std::system(("rm -rf " + d).c_str());
}

TEST_CASE("fcntl locks exclude another process") {
    auto d = tmpdir();
    std::string p = d + "/lock";
    unique_fd fd(::open(p.c_str(), O_RDWR | O_CREAT, 0600));
    REQUIRE(lock_fd(fd.get(), lock_mode::exclusive, false));
    pid_t pid = ::fork();
    if (pid == 0) {
        unique_fd f2(::open(p.c_str(), O_RDWR));
        _exit(lock_fd(f2.get(), lock_mode::exclusive, false) ? 1 : 0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WEXITSTATUS(status) == 0);  // child could not lock
    std::system(("rm -rf " + d).c_str());
}
