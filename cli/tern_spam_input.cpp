// tern_spam_input.cpp - the messages tern-spam reads: files, directories,
// maildirs, mbox files and standard input.
// SECURITY: input files are whatever the administrator names; they are
// read with a size cap, symlinked directories are not followed, and an mbox
// is split only at From_ lines that carry a date (body lines starting
// "From " in an unquoted single message do not split it).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/tern_spam.hpp"
#include "lib/fd.hpp"
#include "lib/mbox_format.hpp"

namespace tern::spam_cli {
namespace {

constexpr size_t max_input_bytes = size_t(1) << 31;  // one input file (an mbox may be large)
constexpr int max_depth = 16;

bool list_dir(const std::string& dir, std::vector<std::string>& names) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return false;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return true;
}

bool is_dir(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool walk(const std::string& dir, int depth, std::vector<std::string>& files) {
    if (depth > max_depth) return true;
    std::vector<std::string> names;
    if (!list_dir(dir, names)) {
        std::fprintf(stderr, "tern-spam: %s: %s\n", dir.c_str(), errno_text().c_str());
        return false;
    }
    bool maildir = is_dir(dir + "/cur") && is_dir(dir + "/new");
    bool ok = true;
    for (const auto& n : names) {
        std::string p = dir + "/" + n;
        struct stat st;
        if (::lstat(p.c_str(), &st) != 0) continue;
        if (S_ISREG(st.st_mode)) {
            if (!maildir) files.push_back(p);
        } else if (S_ISDIR(st.st_mode)) {
            if (maildir) {
                if (n == "cur" || n == "new") ok = walk(p, max_depth, files) && ok;  // their files only
            } else if (n[0] != '.') {
                ok = walk(p, depth + 1, files) && ok;
            }
        }
    }
    return ok;
}

}  // namespace

bool collect_inputs(const std::vector<std::string>& args, std::vector<std::string>& files) {
    bool ok = true;
    for (const auto& a : args) {
        if (a == "-") {
            files.push_back(a);
            continue;
        }
        struct stat st;
        if (::stat(a.c_str(), &st) != 0) {
            std::fprintf(stderr, "tern-spam: %s: %s\n", a.c_str(), errno_text().c_str());
            ok = false;
        } else if (S_ISDIR(st.st_mode)) {
            ok = walk(a, 0, files) && ok;
        } else {
            files.push_back(a);
        }
    }
    return ok;
}

bool for_each_message(const std::string& file,
                      const std::function<void(std::string_view msg, const std::string& name)>& fn,
                      std::string& err) {
    std::string data;
    if (file == "-") {
        char buf[65536];
        ssize_t n;
        while ((n = ::read(STDIN_FILENO, buf, sizeof buf)) != 0) {
            if (n < 0) {
                if (errno == EINTR) continue;
                err = "standard input: " + errno_text();
                return false;
            }
            if (data.size() + size_t(n) > max_input_bytes) {
                err = "standard input: too large";
                return false;
            }
            data.append(buf, size_t(n));
        }
    } else {
        auto d = read_file(file, max_input_bytes);
        if (!d) {
            err = file + ": " + errno_text();
            return false;
        }
        data = std::move(*d);
    }
    std::string_view all = data;
    if (!all.starts_with("From ")) {
        fn(all, file);
        return true;
    }
    // mbox: message boundaries are From_ lines after an empty line that
    // look like From_ lines (sender and date)
    std::vector<uint64_t> starts;
    for (uint64_t s : mailbox::mbox::split(all, 0)) {
        size_t eol = all.find('\n', s);
        std::string_view line = all.substr(s, eol == std::string_view::npos ? std::string_view::npos : eol - s);
        if (starts.empty() || mailbox::mbox::parse_from_date(line) != 0) starts.push_back(s);
    }
    for (size_t i = 0; i < starts.size(); i++) {
        size_t end = i + 1 < starts.size() ? starts[i + 1] : all.size();
        std::string msg = mailbox::mbox::present(all.substr(starts[i], end - starts[i]));
        fn(msg, starts.size() == 1 ? file : file + ":" + std::to_string(i + 1));
    }
    return true;
}

}  // namespace tern::spam_cli
