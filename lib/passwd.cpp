// passwd.cpp - see passwd.hpp.
#include "lib/passwd.hpp"

#include <crypt.h>
#include <cstring>
#include <openssl/crypto.h>

#include "lib/strutil.hpp"

namespace tern {

std::string hash_password(std::string_view password) {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, salt, sizeof salt)) return "";
    struct crypt_data data;
    std::memset(&data, 0, sizeof data);
    std::string pw(password);
    const char* h = crypt_r(pw.c_str(), salt, &data);
    if (!h || h[0] == '*') return "";
    return h;
}

bool acceptable_hash(std::string_view h) {
    for (const char* p : {"$y$", "$gy$", "$7$", "$6$", "$5$", "$2b$", "$2y$"})
        if (h.rfind(p, 0) == 0) return true;
    return false;
}

bool verify_password(std::string_view password, const std::string& hash) {
    if (!acceptable_hash(hash)) return false;
    struct crypt_data data;
    std::memset(&data, 0, sizeof data);
    std::string pw(password);
    const char* h = crypt_r(pw.c_str(), hash.c_str(), &data);
    OPENSSL_cleanse(pw.data(), pw.size());
    if (!h || h[0] == '*') return false;
    size_t n = std::strlen(h);
    return n == hash.size() && CRYPTO_memcmp(h, hash.data(), n) == 0;
}

std::vector<passwd_entry> parse_passwd_file(std::string_view text, const std::string& file,
                                            std::vector<config_error>& errors) {
    std::vector<passwd_entry> out;
    int lineno = 0;
    for (auto& raw : split_char(text, '\n')) {
        ++lineno;
        auto line = trim(raw);
        if (line.empty() || line[0] == '#') continue;
        auto f = split_char(line, ':');
        if (f.size() < 2 || f[0].empty()) {
            errors.push_back({file, lineno, "expected name:hash"});
            continue;
        }
        if (!acceptable_hash(f[1])) {
            errors.push_back({file, lineno, "user " + printable(f[0], 60) +
                                                ": password must be a crypt(3) hash ($y$ yescrypt or $6$ SHA-512-crypt)"});
            continue;
        }
        out.push_back({to_lower(f[0]), f[1], lineno});
    }
    return out;
}

}  // namespace tern
