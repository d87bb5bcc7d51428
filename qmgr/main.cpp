// main.cpp - the queue manager daemon (public/qmgr): its settings from
// main.cf and the requests it serves (docs/internal-protocols.md):
//   request=wakeup                        -> status=ok (look at incoming/)
//   request=flush [queue_id=ID | site=D]  -> status=ok | status=error, reason=
//   request=ping                          -> status=ok
// The work is in qmgr/manager.hpp.
// SECURITY: the socket is public (local users run postqueue); requests
// only wake the manager or move retry times forward. A queue ID is checked
// before it becomes a path. Runs as mail_owner.
#include <memory>
#include <sys/resource.h>

#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"
#include "qmgr/manager.hpp"

using namespace tern;
using namespace tern::qmgr;

namespace {

std::unique_ptr<manager> g_mgr;
std::shared_ptr<map_list> g_transport_maps, g_valias_maps;
std::map<std::string, std::unique_ptr<lookup_table>> g_domain_tables;

// Tables are opened before the chroot; lookups run on the loop (they reopen
// a table whose file was rebuilt).
struct tables {
    transport_lookup transport_maps, virtual_alias_maps;
    domain_table_lookup domains;
} g_tables;

void open_tables(server& srv) {
    auto& rs = g_tables;
    auto opts = map_options::from_config(srv.cfg);
    std::vector<config_error> errors;
    auto t = map_list::parse(srv.cfg.get("transport_maps"), opts, errors);
    auto v = map_list::parse(srv.cfg.get("virtual_alias_maps"), opts, errors);
    for (const auto& e : errors) log::warn("%s", e.str().c_str());
    if (!t || !v) log::fatal("bad transport_maps or virtual_alias_maps");
    g_transport_maps = std::make_shared<map_list>(std::move(*t));
    g_valias_maps = std::make_shared<map_list>(std::move(*v));
    auto lookup_in = [](map_list* m) {
        return [m](const std::string& key, std::string& value) -> int {
            if (!m || m->empty()) return 0;
            auto r = m->lookup(key);
            if (r.found()) {
                value = r.value;
                return 1;
            }
            if (r.failed()) {
                value = r.error;
                return -1;
            }
            return 0;
        };
    };
    if (!g_transport_maps->empty()) rs.transport_maps = lookup_in(g_transport_maps.get());
    if (!g_valias_maps->empty()) rs.virtual_alias_maps = lookup_in(g_valias_maps.get());
    rs.domains = [opts](const std::string& spec, const std::string& key) -> int {
        auto& tab = g_domain_tables[spec];
        if (!tab) {
            std::vector<config_error> errs;
            tab = open_table(spec, opts, errs);
            for (const auto& e : errs) log::warn("%s", e.str().c_str());
            if (!tab) return -1;
        }
        auto r = tab->lookup(key);
        return r.found() ? 1 : r.failed() ? -1 : 0;
    };
}

transport_settings transport_from(const config& cfg, const std::string& agent, const char* conc, const char* rcpt) {
    transport_settings t;
    t.agent = agent;
    t.destination_limit = static_cast<int>(cfg.get_int(conc));
    t.initial_concurrency = static_cast<int>(cfg.get_int("initial_destination_concurrency"));
    t.recipient_limit = static_cast<int>(cfg.get_int(rcpt));
    t.failed_cohort_limit = static_cast<int>(cfg.get_int("destination_concurrency_failed_cohort_limit"));
    t.transport_limit = static_cast<int>(cfg.get_int("qmgr_transport_request_limit"));
    t.dead_time_ms = cfg.get_time("qmgr_dead_destination_time") * 1000;
    t.retry_min_ms = 1000;
    t.retry_max_ms = cfg.get_time("transport_retry_time") * 1000;
    return t;
}

// The active set keeps each message's file open (and locked): stay well
// inside the descriptor limit.
size_t fd_bounded_limit(size_t wanted, bool explicit_setting) {
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return wanted;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY) return wanted;
    size_t room = rl.rlim_cur > 256 ? static_cast<size_t>(rl.rlim_cur) - 256 : 16;
    if (wanted > room) {
        if (explicit_setting)
            log::warn("qmgr_message_active_limit %zu is above what the open file limit allows; using %zu", wanted,
                      room);
        else
            log::debug("active limit lowered to %zu by the open file limit", room);
        return room;
    }
    return wanted;
}

void start_manager(server& srv) {
    const config& cfg = srv.cfg;
    settings s;
    s.active_limit = fd_bounded_limit(static_cast<size_t>(cfg.get_int("qmgr_message_active_limit")),
                                      cfg.is_set("qmgr_message_active_limit"));
    s.recipient_limit = static_cast<size_t>(cfg.get_int("qmgr_message_recipient_limit"));
    s.min_backoff = cfg.get_time("minimal_backoff_time");
    s.max_backoff = cfg.get_time("maximal_backoff_time");
    s.queue_lifetime = cfg.get_time("maximal_queue_lifetime");
    s.bounce_lifetime = cfg.get_time("bounce_queue_lifetime");
    s.delay_warning = cfg.get_time("delay_warning_time");
    s.queue_run_delay = cfg.get_time("queue_run_delay");
    s.delivery_timeout = cfg.get_time("qmgr_delivery_timeout");
    s.bounce_size_limit = cfg.get_size("bounce_size_limit");
    s.myhostname = cfg.get("myhostname");
    s.double_bounce = cfg.get("double_bounce_sender");
    if (s.double_bounce.find('@') == std::string::npos) s.double_bounce += "@" + cfg.get("myorigin");
    s.notice_recipient = cfg.get("2bounce_notice_recipient");
    s.sync_threads = static_cast<unsigned>(cfg.get_int("qmgr_sync_threads"));

    router_settings rs;
    rs.domains = domain_classifier::from_config(cfg);
    rs.local_transport = to_lower(cfg.get("local_transport"));
    rs.virtual_transport = to_lower(cfg.get("virtual_transport"));
    rs.default_transport = to_lower(cfg.get("default_transport"));
    rs.relayhost = std::string(trim(cfg.get("relayhost")));
    rs.double_bounce = s.double_bounce;
    rs.delimiters = cfg.get("recipient_delimiter");
    rs.transport_maps = g_tables.transport_maps;
    rs.virtual_alias_maps = g_tables.virtual_alias_maps;
    rs.domains.set_table_lookup(g_tables.domains);

    std::map<std::string, transport_settings> ts;
    ts["local"] = transport_from(cfg, "local", "local_destination_concurrency_limit", "local_destination_recipient_limit");
    ts["virtual"] =
        transport_from(cfg, "local", "virtual_destination_concurrency_limit", "virtual_destination_recipient_limit");
    ts["smtp"] = transport_from(cfg, "smtp", "smtp_destination_concurrency_limit", "smtp_destination_recipient_limit");
    ts["relay"] = transport_from(cfg, "smtp", "smtp_destination_concurrency_limit", "smtp_destination_recipient_limit");
    auto other = transport_from(cfg, "", "default_destination_concurrency_limit", "default_destination_recipient_limit");

    g_mgr = std::make_unique<manager>(srv, std::move(s), router(std::move(rs)), std::move(ts), other);
    g_mgr->start();
}

void handle(const attr_list& req, const attr_responder& respond) {
    std::string r = req.get("request");
    if (!g_mgr) {
        respond(attr_list().add("status", "error").add("reason", "the queue manager is stopping"));
        return;
    }
    if (r == "wakeup") {
        g_mgr->wakeup();
        respond(attr_list().add("status", "ok"));
    } else if (r == "flush") {
        std::string why = g_mgr->flush(req.get("queue_id"), req.get("site"));
        if (why.empty()) respond(attr_list().add("status", "ok"));
        else respond(attr_list().add("status", "error").add("reason", why));
    } else if (r == "ping") {
        respond(attr_list().add("status", "ok"));
    } else {
        respond(attr_list().add("status", "error").add("reason", "unknown request: " + printable(r, 40)));
    }
}

}  // namespace

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "qmgr";
    hooks.pre_jail = [](server& srv) { open_tables(srv); };
    hooks.post_jail = [](server& srv) { start_manager(srv); };
    hooks.on_accept = [](server& srv, unique_fd fd, size_t) {
        attr_limits lim;
        lim.max_count = 100;
        lim.max_total = 64 * 1024;
        serve_attr_connection(srv.loop, std::move(fd), handle, std::chrono::seconds(srv.cfg.get_time("ipc_timeout")),
                              lim);
    };
    hooks.on_wakeup = [](server&) {
        if (g_mgr) g_mgr->timer_scan();
    };
    hooks.active_sessions = [](server& srv) -> size_t {
        if (!g_mgr) return 0;
        if (srv.draining()) g_mgr->drain();
        return g_mgr->busy();
    };
    hooks.on_stop = [](server&) {
        if (g_mgr) g_mgr->stop();
    };
    int rc = server_main(argc, argv, hooks);
    g_mgr.reset();
    return rc;
}
