// resolve.hpp - local-delivery's routing: what one recipient turns into.
// A recipient is expanded through virtual aliases (virtual_alias_maps, any
// domain), aliases (alias_maps), .forward files of system users and
// :include: files, recursively, into leaves: mailboxes
// (maildir or mbox, of system or virtual users), files, commands, and
// remote addresses that must be forwarded in a new queue file. The user
// part is split at recipient_delimiter (user+tag). Loops are caught three
// ways: an address that reappears below itself is delivered to its own
// mailbox without further expansion (Postfix's "alias to itself"), a
// Delivered-To header naming an address means the message has been here
// before (5.4.6), and the depth and the number of leaves are bounded.
// All lookups go through hooks, so this file does no I/O of its own and is
// unit-tested with tables in memory. Called by local-delivery/deliver.cpp.
// SECURITY: decides which uid a delivery runs as and whether aliases,
// .forward and :include: files may name files and commands
// (allow_mail_to_files, allow_mail_to_commands); mailbox paths built from
// addresses never contain "/" from the address, and virtual mailbox paths
// with ".." are refused.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "lib/domain_class.hpp"

namespace tern::local {

struct user_info {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
    std::string shell;
};

enum class target_kind { address, file, command, include };
struct target {
    target_kind kind = target_kind::address;
    std::string text;      // address, path, command (after '|'), include path
    bool literal = false;  // "\user": that user's mailbox, no aliases or .forward
};

enum class found { yes, no, error };
struct value_lookup {
    found status = found::no;
    std::string value;
    std::string error;
};
struct file_text {
    found status = found::no;  // no: the file does not exist
    std::string text;
    std::string error;
    uid_t owner = 0;
};
struct parsed_targets {
    bool ok = true;
    std::vector<target> targets;
    std::string error;
};

struct resolver_hooks {
    std::function<value_lookup(const std::string& key)> alias;     // alias_maps
    std::function<value_lookup(const std::string& key)> vmailbox;  // virtual_mailbox_maps
    std::function<value_lookup(const std::string& key)> valias;    // virtual_alias_maps (may be empty)
    std::function<std::optional<user_info>(const std::string& name)> user;
    std::function<std::optional<user_info>(uid_t uid)> user_by_uid;
    // Read a small file as this user (uid 0: as root).
    std::function<file_text(const user_info& as, const std::string& path)> read_file;
    // Alias-value syntax: addresses, /files, |commands, :include:/paths.
    std::function<parsed_targets(std::string_view text)> parse;
};

// Where a file or command target came from (allow_mail_to_files/commands).
enum class source_class : unsigned { alias = 1, forward = 2, include = 4 };

struct resolver_settings {
    std::string delimiters = "+";        // recipient_delimiter (any of these characters)
    domain_classifier domains;           // mydestination, virtual_mailbox_domains
    std::string home_mailbox;            // "Maildir/" or "Mailbox"; "" = spool
    std::string mail_spool_directory = "/var/mail";
    std::string virtual_mailbox_base;
    user_info virtual_owner;             // mail_owner: owns virtual mailboxes
    user_info default_privs;             // commands and files named in aliases
    // forward_path: templates with $home, $user, $extension and
    // $recipient_delimiter (also ${name}); one naming $extension is skipped
    // when the address has none. Empty: no .forward files.
    std::vector<std::string> forward_path = {"$home/.forward${recipient_delimiter}${extension}", "$home/.forward"};
    unsigned allow_commands = 3;         // source_class bits (alias, forward)
    unsigned allow_files = 3;
    bool propagate_extension = true;     // user+tag -> alias targets get +tag
    bool virtual_alias_fallback = true;  // unknown virtual user: try alias_maps
    size_t depth_limit = 20;             // local_expansion_depth_limit
    size_t leaf_limit = 1000;            // local_expansion_limit
};

enum class leaf_kind { maildir, mbox, file, command, forward };
const char* leaf_kind_name(leaf_kind k);

struct leaf {
    leaf_kind kind = leaf_kind::maildir;
    std::string dest;       // directory, mbox path, file path, command, or remote address
    user_info as;           // who the delivery runs as
    std::string address;    // for Delivered-To: the address that led here
    std::string user;       // local part without extension (commands' USER/LOCAL)
    std::string extension;  // the +tag without the delimiter
    std::string origin;     // for logs: "alias postmaster", "~bob/.forward"
    bool is_virtual = false;
};

enum class outcome { deliver, defer, bounce };

struct resolution {
    outcome result = outcome::deliver;
    std::string status;  // defer/bounce: RFC 3463 code
    std::string text;
    std::vector<leaf> leaves;
};

class resolver {
public:
    resolver(resolver_settings s, resolver_hooks h) : _s(std::move(s)), _h(std::move(h)) {}
    // delivered_to: lower-cased Delivered-To addresses already in the message.
    resolution resolve(const std::string& recipient, const std::set<std::string>& delivered_to = {});
    const resolver_settings& settings() const { return _s; }

private:
    struct state;
    bool expand(state& st, const std::string& address, size_t depth, bool literal, const std::string& origin);
    bool expand_targets(state& st, const std::vector<target>& targets, size_t depth, const std::string& parent,
                        const std::string& ext, bool ext_unmatched, source_class cls, const user_info& privs,
                        const std::string& origin);
    bool add_leaf(state& st, leaf l);
    bool fail(state& st, outcome o, std::string status, std::string text);
    resolver_settings _s;
    resolver_hooks _h;
};

// Split a local part at the first delimiter character: "bob+tag" ->
// {"bob", "tag"}. A local part that starts with a delimiter is not split.
std::pair<std::string, std::string> split_extension(std::string_view local, std::string_view delimiters);

// One forward_path element for a user; "" when it names $extension and there is none.
std::string expand_forward_path(std::string_view templ, const user_info& u, std::string_view extension,
                                std::string_view delimiter);

// Normal form used for loop checks and Delivered-To: lower-cased address.
std::string loop_key(std::string_view address);

}  // namespace tern::local
