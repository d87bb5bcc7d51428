// passwd_test.cpp - crypt(3) hashing and the passwd-like user file.
#include <catch2/catch.hpp>

#include "lib/passwd.hpp"

using namespace tern;

TEST_CASE("yescrypt hash and verify") {
    auto h = hash_password("s3cret");
    REQUIRE(h.rfind("$y$", 0) == 0);
    CHECK(verify_password("s3cret", h));
    CHECK_FALSE(verify_password("s3cret ", h));
    CHECK_FALSE(verify_password("", h));
    CHECK(hash_password("s3cret") != h);  // fresh salt
}

TEST_CASE("accepted schemes") {
    // SHA-512-crypt of "password" with salt "saltsalt" (crypt(3) test vector)
    std::string sha512 = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
    CHECK(acceptable_hash(sha512));
    CHECK(verify_password("password", sha512));
    CHECK_FALSE(acceptable_hash("plaintext"));
    CHECK_FALSE(acceptable_hash("abJnggxhB/yWI"));  // DES
    CHECK_FALSE(acceptable_hash("$1$salt$hash"));   // MD5
    CHECK_FALSE(verify_password("x", "x"));
}

TEST_CASE("passwd file parsing") {
    std::vector<config_error> errs;
    auto e = parse_passwd_file("# users\n\nAlice@Example.Test:$y$j9T$abc$def\nbob:plain\n:$y$x\nnocolon\n", "users", errs);
    REQUIRE(e.size() == 1);
    CHECK(e[0].name == "alice@example.test");
    CHECK(e[0].line == 3);
    REQUIRE(errs.size() == 3);
    CHECK(errs[0].str().find("users:4: ") == 0);
    CHECK(errs[0].reason.find("crypt(3)") != std::string::npos);
    CHECK(errs[1].line == 5);
    CHECK(errs[2].line == 6);
}
