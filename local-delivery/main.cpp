// main.cpp - the local delivery agent (private/local, local(8)): delivers
// to aliases, .forward files, system users (home_mailbox or the spool) and
// the virtual mailboxes of virtual_mailbox_maps, as requested by the qmgr
// (docs/internal-protocols.md). Settings from main.cf; tables opened once
// (they reopen themselves when rebuilt). The work is in agent.hpp.
// SECURITY: stays root (keep_root) so that each delivery can run as its
// recipient; everything that touches mail runs in a child that has dropped
// to that user first. .forward and :include: files of users are read with
// the user's effective ids.
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/privs.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"
#include "local-delivery/agent.hpp"
#include "local-delivery/targets.hpp"

using namespace tern;
using namespace tern::local;

namespace {

std::unique_ptr<agent> g_agent;
std::shared_ptr<map_list> g_alias, g_vmailbox, g_valias;
std::map<std::string, std::unique_ptr<lookup_table>> g_domain_tables;

value_lookup from_map(map_list* m, const std::string& key) {
    if (!m || m->empty()) return {};
    auto r = m->lookup(key);
    if (r.found()) return {found::yes, r.value, ""};
    if (r.failed()) return {found::error, "", r.error};
    return {};
}

user_info to_user(const account& a) { return {a.name, a.uid, a.gid, a.home, a.shell}; }

std::optional<user_info> user_named(const std::string& name) {
    auto a = lookup_account(name);
    if (!a) return std::nullopt;
    return to_user(*a);
}

// Read a small file (.forward, :include:) as `as`; uid 0 reads as root.
file_text read_as(const user_info& as, const std::string& path) {
    bool switched = false;
    std::string err;
    if (::geteuid() == 0 && as.uid != 0) {
        if (!become_effective(as.uid, as.gid, err)) return {found::error, "", err, 0};
        switched = true;
    }
    file_text out;
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    int e = errno;
    if (!fd) {
        out.status = e == ENOENT || e == ENOTDIR ? found::no : found::error;
        out.error = errno_text(e);
    } else {
        struct stat st;
        if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
            out.status = found::error;
            out.error = "not a regular file";
        } else if (st.st_size > 1024 * 1024) {
            out.status = found::error;
            out.error = "file too large";
        } else {
            out.owner = st.st_uid;
            std::string text;
            char buf[8192];
            ssize_t n;
            while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
            if (n < 0) {
                out.status = found::error;
                out.error = errno_text();
            } else {
                out.status = found::yes;
                out.text = std::move(text);
            }
        }
    }
    if (switched && !restore_root(err)) log::fatal("cannot return to root: %s", err.c_str());
    return out;
}

unsigned source_bits(const std::vector<std::string>& v) {
    unsigned b = 0;
    for (const auto& w : v) {
        std::string l = to_lower(w);
        if (l == "alias") b |= static_cast<unsigned>(source_class::alias);
        else if (l == "forward") b |= static_cast<unsigned>(source_class::forward);
        else if (l == "include") b |= static_cast<unsigned>(source_class::include);
        else log::warn("unknown class %s in allow_mail_to_*", l.c_str());
    }
    return b;
}

void open_tables(server& srv, domain_classifier& domains) {
    auto opts = map_options::from_config(srv.cfg);
    std::vector<config_error> errors;
    auto a = map_list::parse(srv.cfg.get("alias_maps"), opts, errors);
    auto v = map_list::parse(srv.cfg.get("virtual_mailbox_maps"), opts, errors);
    auto va = map_list::parse(srv.cfg.get("virtual_alias_maps"), opts, errors);
    for (const auto& e : errors) log::warn("%s", e.str().c_str());
    if (!a || !v || !va) log::fatal("bad alias_maps, virtual_mailbox_maps or virtual_alias_maps");
    g_alias = std::make_shared<map_list>(std::move(*a));
    g_vmailbox = std::make_shared<map_list>(std::move(*v));
    g_valias = std::make_shared<map_list>(std::move(*va));
    // table elements of mydestination / virtual_mailbox_domains
    auto lookup = [opts](const std::string& spec, const std::string& key) -> int {
        auto& t = g_domain_tables[spec];
        if (!t) {
            std::vector<config_error> errs;
            t = open_table(spec, opts, errs);
            for (const auto& e : errs) log::warn("%s", e.str().c_str());
            if (!t) return -1;
        }
        auto r = t->lookup(key);
        return r.found() ? 1 : r.failed() ? -1 : 0;
    };
    domains.set_table_lookup(lookup);
}

void setup(server& srv) {
    const config& cfg = srv.cfg;
    resolver_settings rs;
    rs.delimiters = cfg.get("recipient_delimiter");
    rs.domains = domain_classifier::from_config(cfg);
    rs.home_mailbox = cfg.get("home_mailbox");
    rs.mail_spool_directory = cfg.get("mail_spool_directory");
    rs.virtual_mailbox_base = cfg.get("virtual_mailbox_base");
    bool root = ::geteuid() == 0;
    std::string owner = cfg.get("mail_owner");
    auto own = root ? lookup_account(owner) : lookup_account(::getuid());
    if (!own) log::fatal("mail_owner %s: no such account", owner.c_str());
    rs.virtual_owner = to_user(*own);
    auto privs = lookup_account(cfg.get("default_privs"));
    if (root && (!privs || privs->uid == 0))
        log::fatal("default_privs %s: no such account, or it is root", cfg.get("default_privs").c_str());
    rs.default_privs = privs ? to_user(*privs) : rs.virtual_owner;
    if (!root) rs.default_privs = rs.virtual_owner;
    rs.forward_path.clear();
    if (auto raw = cfg.raw("forward_path"))
        for (const auto& e : split_list(*raw)) rs.forward_path.push_back(e);
    rs.allow_commands = source_bits(cfg.get_list("allow_mail_to_commands"));
    rs.allow_files = source_bits(cfg.get_list("allow_mail_to_files"));
    rs.depth_limit = static_cast<size_t>(cfg.get_int("local_expansion_depth_limit"));
    rs.leaf_limit = static_cast<size_t>(cfg.get_int("local_expansion_limit"));
    open_tables(srv, rs.domains);

    resolver_hooks h;
    h.alias = [](const std::string& k) { return from_map(g_alias.get(), k); };
    h.vmailbox = [](const std::string& k) { return from_map(g_vmailbox.get(), k); };
    h.valias = [](const std::string& k) { return from_map(g_valias.get(), k); };
    h.user = user_named;
    h.user_by_uid = [](uid_t u) -> std::optional<user_info> {
        auto a = lookup_account(u);
        if (!a) return std::nullopt;
        return to_user(*a);
    };
    h.read_file = read_as;
    h.parse = parse_targets;

    agent_settings as;
    as.queue_root = cfg.get("queue_directory");
    as.hash_depth = static_cast<int>(cfg.get_int("hash_queue_depth"));
    as.mailbox_size_limit = cfg.get_size("mailbox_size_limit");
    as.spam_folder = cfg.get("local_spam_folder");
    as.command_time_limit = static_cast<int>(cfg.get_time("command_time_limit"));
    as.process_limit = static_cast<size_t>(cfg.get_int("local_delivery_process_limit"));
    as.worker_idle_time = static_cast<int>(cfg.get_time("local_delivery_worker_idle_time"));
    as.worker_max_use = static_cast<unsigned>(cfg.get_int("local_delivery_worker_max_use"));
    as.header_limit = cfg.get_size("local_header_limit");
    as.mbox_limits = mailbox::limits::from_config(cfg);
    as.spool_dir = rs.mail_spool_directory;
    while (as.spool_dir.size() > 1 && as.spool_dir.back() == '/') as.spool_dir.pop_back();
    as.mail_owner = rs.virtual_owner;
    as.default_privs = rs.default_privs;
    as.privileged = root;
    g_agent = std::make_unique<agent>(srv.loop, as, std::make_unique<resolver>(std::move(rs), std::move(h)));
}

}  // namespace

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "local";
    hooks.keep_root = true;
    hooks.pre_jail = [](server& srv) { setup(srv); };
    hooks.on_accept = [](server& srv, unique_fd fd, size_t) {
        serve_attr_connection(
            srv.loop, std::move(fd),
            [](const attr_list& req, attr_responder respond) {
                if (g_agent) g_agent->handle(req, std::move(respond));
                else respond(attr_list().add("status", "error").add("reason", "stopping"));
            },
            std::chrono::seconds(srv.cfg.get_time("ipc_timeout")));
    };
    hooks.active_sessions = [](server&) { return g_agent ? g_agent->busy() : 0; };
    hooks.on_stop = [](server&) { g_agent.reset(); };
    return server_main(argc, argv, hooks);
}
