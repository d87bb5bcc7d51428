// main.cpp - smtp-client, tern's outbound SMTP delivery agent (smtp(8)):
// answers the qmgr's delivery requests on private/smtp (attr protocol,
// docs/internal-protocols.md) by sending each message to the mail
// exchangers of its next hop. Many deliveries run at once on one event loop.
// SECURITY: runs as mail_owner, optionally chrooted to the queue directory;
// the DNS resolver (resolv.conf, hosts) and the TLS trust store are read in
// the pre-jail hook. Everything remote servers say is untrusted input.
#include <chrono>

#include "lib/dns.hpp"
#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/net.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"
#include "lib/tls.hpp"
#include "smtp-client/cache.hpp"
#include "smtp-client/delivery.hpp"

using namespace tern;
using namespace tern::smtp_client;

namespace {

// A request may take as long as several sessions with their stage limits.
constexpr std::chrono::seconds request_idle_limit{3600};

std::unique_ptr<client_context> g_ctx;

std::chrono::seconds secs(const config& cfg, const char* name) { return std::chrono::seconds(cfg.get_time(name)); }

sock_addr bind_address(const config& cfg, const char* name) {
    std::string v = std::string(trim(cfg.get(name)));
    if (v.empty()) return {};
    auto a = parse_ip(v, 0);
    if (!a) log::fatal("%s = %s: not a numeric address", name, v.c_str());
    return *a;
}

void setup(server& srv) {
    const config& cfg = srv.cfg;
    g_ctx = std::make_unique<client_context>(srv.loop);
    client_config& c = g_ctx->cfg;
    session_settings& s = c.session;
    s.helo_name = cfg.get("smtp_helo_name");
    if (!parse_tls_level(cfg.get("smtp_tls_security_level"), s.tls))
        log::fatal("smtp_tls_security_level = %s: use none, may, encrypt or verify",
                   cfg.get("smtp_tls_security_level").c_str());
    s.skip_5xx_greeting = cfg.get_bool("smtp_skip_5xx_greeting");
    s.t.connect = secs(cfg, "smtp_connect_timeout");
    s.t.helo = secs(cfg, "smtp_helo_timeout");
    s.t.starttls = secs(cfg, "smtp_starttls_timeout");
    s.t.mail = secs(cfg, "smtp_mail_timeout");
    s.t.rcpt = secs(cfg, "smtp_rcpt_timeout");
    s.t.data_init = secs(cfg, "smtp_data_init_timeout");
    s.t.data_xfer = secs(cfg, "smtp_data_xfer_timeout");
    s.t.data_done = secs(cfg, "smtp_data_done_timeout");
    s.t.rset = secs(cfg, "smtp_rset_timeout");
    c.default_port = static_cast<int>(cfg.get_int("smtp_remote_port"));
    c.bind4 = bind_address(cfg, "smtp_bind_address");
    c.bind6 = bind_address(cfg, "smtp_bind_address6");
    if (c.bind4.len && c.bind4.family() != AF_INET) log::fatal("smtp_bind_address must be an IPv4 address");
    if (c.bind6.len && c.bind6.family() != AF_INET6) log::fatal("smtp_bind_address6 must be an IPv6 address");
    c.session_limit = static_cast<unsigned>(cfg.get_int("smtp_mx_session_limit"));
    c.line_limit = static_cast<size_t>(cfg.get_int("smtp_line_length_limit"));
    c.reply_line_limit = static_cast<size_t>(cfg.get_int("smtp_reply_line_limit"));
    c.reply_line_count = static_cast<size_t>(cfg.get_int("smtp_reply_line_count_limit"));
    c.mime_conversion = !cfg.get_bool("disable_mime_output_conversion");
    route_settings& r = c.route;
    r.fam = parse_families(cfg.get_list("inet_protocols"));
    if (!parse_addr_pref(cfg.get("smtp_address_preference"), r.pref))
        log::fatal("smtp_address_preference = %s: use any, ipv4 or ipv6", cfg.get("smtp_address_preference").c_str());
    r.address_limit = static_cast<size_t>(cfg.get_int("smtp_mx_address_limit"));
    r.self_names = {to_lower(cfg.get("myhostname")), to_lower(s.helo_name)};
    for (const auto& a : interface_addresses(cfg.get_list("inet_interfaces")))
        if (auto ip = numeric_address(a)) r.self_addrs.push_back(*ip);

    cache_settings cs;
    cs.idle_limit = secs(cfg, "smtp_connection_cache_time_limit");
    cs.reuse_time = secs(cfg, "smtp_connection_reuse_time_limit");
    cs.reuse_count = static_cast<unsigned>(cfg.get_int("smtp_connection_reuse_count_limit"));
    cs.max_idle = static_cast<size_t>(cfg.get_int("smtp_connection_cache_limit"));
    cs.quit_limit = s.t.rset;
    g_ctx->cache = std::make_unique<conn_cache>(srv.loop, cs);

    // TLS: read the trust store before the jail hides it
    if (s.tls != tls_level::none) {
        std::string err;
        bool verify = s.tls == tls_level::verify;
        g_ctx->tls_ctx = make_client_ctx(verify ? tls_verify::peer : tls_verify::none, cfg.get("smtp_tls_CAfile"),
                                         cfg.get("tls_protocols_min"), err);
        if (!g_ctx->tls_ctx) {
            if (s.tls == tls_level::may)
                log::warn("no TLS for outgoing mail: %s", err.c_str());
            else
                log::fatal("smtp_tls_security_level = %s needs TLS: %s", cfg.get("smtp_tls_security_level").c_str(),
                           err.c_str());
        }
    }
    std::string err;
    g_ctx->resolver = dns::resolver::create(srv.loop, cfg, err);
    if (!g_ctx->resolver) log::warn("no DNS resolver (mail to domains is deferred): %s", err.c_str());
}

void handle(const attr_list& req, attr_responder respond) {
    std::string request = req.get("request");
    if (request == "ping") {
        respond(attr_list().add("status", "ok"));
        return;
    }
    if (request != "deliver") {
        respond(attr_list().add("status", "error").add("reason", "unknown request"));
        return;
    }
    g_ctx->deliver(req, std::move(respond));
}

}  // namespace

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "smtp";
    hooks.pre_jail = [](server& srv) { setup(srv); };
    hooks.post_jail = [](server& srv) { g_ctx->queue_root = srv.queue_path(""); };
    hooks.on_accept = [](server& srv, unique_fd fd, size_t) {
        serve_attr_connection(srv.loop, std::move(fd), handle, request_idle_limit);
    };
    hooks.active_sessions = [](server&) { return attr_connections_open() + (g_ctx ? g_ctx->active.size() : 0); };
    hooks.on_stop = [](server&) {
        if (g_ctx) g_ctx->shutdown();
        g_ctx.reset();
    };
    return server_main(argc, argv, hooks);
}
