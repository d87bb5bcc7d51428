// userdb.hpp - where a user's mail lives: the mail store of a virtual user
// (virtual_mailbox_maps + virtual_mailbox_base, as tern init writes them).
// Used by pop3d and imapd after the auth service has accepted a login.
// A table value ending in "/" names a maildir, anything else an mbox file,
// as in Postfix's virtual(8); relative values are under virtual_mailbox_base.
// SECURITY: the value comes from the administrator's table; a value that
// climbs out of virtual_mailbox_base with ".." is refused.
#pragma once

#include <optional>
#include <string>

#include "lib/config.hpp"
#include "lib/mailbox.hpp"
#include "lib/maps.hpp"

namespace tern {

class user_locator {
public:
    // Open virtual_mailbox_maps; errors name the table.
    bool open(const config& cfg, std::string& err);
    // The store of `user` (a canonical address from auth), or nullopt with
    // err ("no mailbox for user" or a table error; temporary says which).
    std::optional<mailbox::store_spec> locate(const std::string& user, std::string& err, bool& temporary);

private:
    std::optional<map_list> _maps;
    std::string _base;
};

}  // namespace tern
