// passwd.hpp - crypt(3) password hashes (yescrypt by default, SHA-512-crypt
// accepted) and the passwd-like user file of the auth service:
//   name:hash[:extra fields ignored]
// SECURITY: only the auth service and `tern init` use this; hashes never
// leave the auth process. Plaintext or unknown hash schemes are refused.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"

namespace tern {

// A fresh yescrypt hash of `password`; empty on failure.
std::string hash_password(std::string_view password);
// True when `password` matches `hash` ($y$, $gy$, $7$, $6$, $5$, $2b$ schemes).
bool verify_password(std::string_view password, const std::string& hash);
// Whether a stored hash uses a scheme we accept (no DES, no plaintext).
bool acceptable_hash(std::string_view hash);

struct passwd_entry {
    std::string name;
    std::string hash;
    int line = 0;
};

// Parse a passwd-like file; bad lines become errors with file:line.
std::vector<passwd_entry> parse_passwd_file(std::string_view text, const std::string& file,
                                            std::vector<config_error>& errors);

}  // namespace tern
