// userdb.cpp - see userdb.hpp.
#include "lib/userdb.hpp"

#include "lib/strutil.hpp"

namespace tern {

bool user_locator::open(const config& cfg, std::string& err) {
    std::vector<config_error> errors;
    auto opts = map_options::from_config(cfg);
    _maps = map_list::parse(cfg.get("virtual_mailbox_maps"), opts, errors);
    _base = cfg.get("virtual_mailbox_base");
    if (!_maps) {
        err = "virtual_mailbox_maps: malformed table list";
        return false;
    }
    if (!errors.empty()) err = errors.front().str();  // tables still answer (with errors) and recover
    return true;
}

std::optional<mailbox::store_spec> user_locator::locate(const std::string& user, std::string& err, bool& temporary) {
    temporary = false;
    if (!_maps || _maps->empty()) {
        err = "no virtual_mailbox_maps configured";
        return std::nullopt;
    }
    auto r = _maps->lookup(to_lower(user));
    if (r.failed()) {
        temporary = true;
        err = r.error;
        return std::nullopt;
    }
    if (!r.found()) {
        err = "no mailbox for " + user;
        return std::nullopt;
    }
    std::string v(trim(r.value));
    if (v.empty() || v.find("..") != std::string::npos) {
        err = "bad mailbox path for " + user + " in virtual_mailbox_maps";
        return std::nullopt;
    }
    mailbox::store_spec spec;
    bool maildir = v.back() == '/';
    std::string path = v[0] == '/' ? v : _base + "/" + v;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    spec.type = maildir ? mailbox::store_type::maildir : mailbox::store_type::mbox;
    spec.path = path;
    return spec;
}

}  // namespace tern
