// mailbox_test_util.hpp - helpers shared by the mailbox unit tests: a
// temporary directory that removes itself, message text, directory listing.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <vector>

#include "lib/mailbox.hpp"

namespace mailbox_test {

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tern-mailbox-XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        path = tmpl;
    }
    ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

inline std::string msg(int n, const std::string& extra_body = "") {
    return "From: sender@example.org\nTo: rcpt@example.org\nSubject: message " + std::to_string(n) +
           "\n\nbody of message " + std::to_string(n) + "\n" + extra_body;
}

inline std::vector<std::string> ls(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (struct dirent* de = ::readdir(d))
            if (de->d_name[0] != '.') out.emplace_back(de->d_name);
        ::closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

inline std::vector<uint32_t> uids_of(const tern::mailbox::folder& f) {
    std::vector<uint32_t> out;
    for (size_t i = 0; i < f.count(); i++) out.push_back(f.at(i).uid);
    return out;
}

inline std::string read_msg(tern::mailbox::folder& f, uint32_t uid) {
    std::string out;
    auto s = f.read(uid, out);
    INFO(s.reason);
    CHECK(s);
    return out;
}

}  // namespace mailbox_test
