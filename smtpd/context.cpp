// context.cpp - see smtpd.hpp: reading the settings, opening what smtpd
// needs before it drops privileges, the session registry and the qmgr
// wake-up.
// SECURITY: the TLS key is read here, as root, before the privilege drop.
#include <unistd.h>

#include "lib/attr.hpp"
#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/queue_ctl.hpp"
#include "lib/strutil.hpp"
#include "smtpd/policy.hpp"
#include "smtpd/recipients.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

context::context(server& s) : srv(s) {}

context::~context() = default;

void context::load() {
    const config& cfg = srv.cfg;
    settings& st = s;
    st.myhostname = cfg.get("myhostname");
    st.mydomain = cfg.get("mydomain");
    st.myorigin = to_lower(cfg.get("myorigin"));
    st.mail_name = cfg.get("mail_name");
    st.banner = cfg.get("smtpd_banner");
    st.service = srv.service;
    for (const auto& k : cfg.get_list("smtpd_discard_ehlo_keywords")) st.discard_ehlo.insert(to_upper(k));
    st.helo_required = cfg.get_bool("smtpd_helo_required");
    st.delay_reject = cfg.get_bool("smtpd_delay_reject");
    st.disable_vrfy = cfg.get_bool("disable_vrfy_command");
    st.peername_lookup = cfg.get_bool("smtpd_peername_lookup");
    st.forbid_bare_newline = cfg.get_bool("smtpd_forbid_bare_newline");
    st.always_add_missing_headers = cfg.get_bool("always_add_missing_headers");
    st.reject_unlisted_recipient = cfg.get_bool("smtpd_reject_unlisted_recipient");
    st.hopcount_limit = static_cast<int>(cfg.get_int("hopcount_limit"));
    st.recipient_limit = static_cast<size_t>(cfg.get_int("smtpd_recipient_limit"));
    st.line_limit = static_cast<size_t>(cfg.get_int("line_length_limit"));
    st.output_limit = cfg.get_size("smtpd_output_buffer_limit");
    st.header_limit = cfg.get_size("header_size_limit");
    st.message_size_limit = cfg.get_size("message_size_limit");
    st.queue_minfree = cfg.get_size("queue_minfree");
    st.hard_error_limit = static_cast<int>(cfg.get_int("smtpd_hard_error_limit"));
    st.soft_error_limit = static_cast<int>(cfg.get_int("smtpd_soft_error_limit"));
    st.conn_limit = static_cast<int>(cfg.get_int("smtpd_client_connection_count_limit"));
    st.error_sleep = seconds(cfg.get_time("smtpd_error_sleep_time"));
    st.timeout = seconds(cfg.get_time("smtpd_timeout"));
    st.data_timeout = seconds(cfg.get_time("smtpd_data_timeout"));
    st.starttls_timeout = seconds(cfg.get_time("smtpd_starttls_timeout"));
    st.auth_timeout = seconds(cfg.get_time("smtpd_auth_timeout"));
    std::string level = to_lower(cfg.get("smtpd_tls_security_level"));
    if (level == "none") st.tls = tls_level::none;
    else if (level == "may") st.tls = tls_level::may;
    else if (level == "encrypt") st.tls = tls_level::encrypt;
    else log::fatal("smtpd_tls_security_level = %s: use none, may or encrypt", level.c_str());
    st.wrapper = cfg.get_bool("smtpd_tls_wrappermode");
    st.tls_auth_only = cfg.get_bool("smtpd_tls_auth_only");
    st.sasl_enable = cfg.get_bool("smtpd_sasl_auth_enable");
    st.tls_received = cfg.get_bool("smtpd_tls_received_header");
    st.auth_header = cfg.get_bool("smtpd_sasl_authenticated_header");
    auto code = [&](const char* n) { return static_cast<int>(cfg.get_int(n)); };
    st.reject_code = code("reject_code");
    st.defer_code = code("defer_code");
    st.access_reject_code = code("access_map_reject_code");
    st.access_defer_code = code("access_map_defer_code");
    st.relay_reject_code = code("relay_domains_reject_code");
    st.invalid_hostname_code = code("invalid_hostname_reject_code");
    st.non_fqdn_code = code("non_fqdn_reject_code");
    st.unknown_address_code = code("unknown_address_reject_code");
    st.unknown_address_tempfail_code = code("unknown_address_tempfail_code");
    st.unknown_client_code = code("unknown_client_reject_code");
    st.unknown_local_code = code("unknown_local_recipient_reject_code");
    st.unknown_virtual_mailbox_code = code("unknown_virtual_mailbox_reject_code");
    st.unknown_virtual_alias_code = code("unknown_virtual_alias_reject_code");
    st.unknown_relay_code = code("unknown_relay_recipient_reject_code");
    st.policy_timeout = seconds(cfg.get_time("smtpd_policy_service_timeout"));
    st.policy_max_idle = seconds(cfg.get_time("smtpd_policy_service_max_idle"));
    st.policy_max_ttl = seconds(cfg.get_time("smtpd_policy_service_max_ttl"));
    st.policy_default_action = cfg.get("smtpd_policy_service_default_action");

    // TLS: the key is readable by root only, so it is loaded now
    bool need_tls = st.wrapper || st.tls == tls_level::encrypt;
    if (st.tls != tls_level::none || st.wrapper) {
        std::string cert = cfg.get("smtpd_tls_cert_file"), key = cfg.get("smtpd_tls_key_file");
        std::string err;
        if (cert.empty()) {
            err = "smtpd_tls_cert_file is not set";
        } else {
            tls_ctx = make_server_ctx(cert, key.empty() ? cert : key, cfg.get("tls_protocols_min"), err);
        }
        if (!tls_ctx) {
            if (need_tls) log::fatal("TLS is required for this service but unavailable: %s", err.c_str());
            log::warn("STARTTLS disabled: %s", err.c_str());
        }
    }

    // tables and restriction lists
    map_options opts = map_options::from_config(cfg);
    std::string err;
    auto nets = net_list::parse(cfg.get("mynetworks"), err, opts);
    if (!nets) {
        config_error = "mynetworks: " + err;
    } else {
        mynetworks = std::move(*nets);
    }
    recipients = recipient_check::load(cfg, opts, err, srv.will_chroot);
    if (!recipients && config_error.empty()) config_error = err;
    struct {
        const char* name;
        restriction_list* out;
    } lists[] = {
        {"smtpd_client_restrictions", &client_r},   {"smtpd_helo_restrictions", &helo_r},
        {"smtpd_sender_restrictions", &sender_r},   {"smtpd_relay_restrictions", &relay_r},
        {"smtpd_recipient_restrictions", &recipient_r}, {"smtpd_data_restrictions", &data_r},
        {"smtpd_end_of_data_restrictions", &eod_r}, {"smtpd_etrn_restrictions", &etrn_r},
    };
    for (const auto& l : lists) {
        auto r = parse_restrictions(split_table_list(cfg.get(l.name)), opts, err);
        if (!r) {
            if (config_error.empty()) config_error = std::string(l.name) + ": " + err;
            continue;
        }
        *l.out = std::move(*r);
    }
    // relaying needs a relay control somewhere (Postfix refuses to run without one)
    bool relay_control = false;
    for (const auto* l : {&relay_r, &recipient_r})
        for (const auto& r : *l)
            if (r.kind == rkind::reject_unauth_destination || r.kind == rkind::defer_unauth_destination ||
                r.kind == rkind::reject || r.kind == rkind::defer || r.kind == rkind::check_policy_service)
                relay_control = true;
    if (config_error.empty() && !relay_control)
        config_error = "smtpd_relay_restrictions and smtpd_recipient_restrictions have no relay control "
                       "(reject_unauth_destination, defer_unauth_destination, reject or defer)";
    if (!config_error.empty())
        log::error("configuration problem, answering 451 4.3.5 to mail: %s", config_error.c_str());

    // DNS, before chroot and privilege drop (it reads resolv.conf)
    std::string derr;
    resolver = dns::resolver::create(srv.loop, cfg, derr);
    if (!resolver) log::warn("no DNS resolver (DNS checks answer 4xx): %s", derr.c_str());
}

void context::start() {
    // paths valid inside a chroot as well
    const config& cfg = srv.cfg;
    std::string root = srv.chrooted ? "/" : cfg.get("queue_directory");
    queue = std::make_unique<queue_dir>(root, static_cast<int>(cfg.get_int("hash_queue_depth")));
    s.auth_socket = srv.socket_path(cfg.get("auth_service_name"));
    s.qmgr_socket = srv.socket_path(std::string(qmgr_public_socket));
    if (std::string cc = cfg.get("smtpd_content_check_service"); !cc.empty())
        s.content_socket = cc[0] == '/' ? cc : srv.socket_path(cc);
    s.content_timeout = seconds(cfg.get_time("smtpd_content_check_timeout"));
    s.content_size_limit = cfg.get_size("spamd_classify_size_limit");
    queue_committer::options copts;
    int64_t threads = cfg.get_int("queue_commit_threads");
    copts.threads = threads > 0 ? static_cast<unsigned>(threads) : 4;
    committer = std::make_unique<queue_committer>(srv.loop, copts);
}

policy_client& context::policy(const std::string& endpoint) {
    auto it = _policies.find(endpoint);
    if (it != _policies.end()) return *it->second;
    auto resolved = resolve_policy_endpoint(endpoint, [this](const std::string& p) { return srv.queue_path(p); });
    auto c = std::make_unique<policy_client>(srv.loop, resolved.value_or("unix:/nonexistent/" + endpoint),
                                             s.policy_timeout, s.policy_max_idle, s.policy_max_ttl);
    if (!resolved) log::warn("check_policy_service %s: not unix:PATH or inet:HOST:PORT", endpoint.c_str());
    else if (srv.chrooted && resolved->rfind("unix:", 0) == 0 && ::access(resolved->c_str() + 5, F_OK) != 0)
        log::warn("check_policy_service %s: %s is not visible in the chroot jail; put the socket under "
                  "queue_directory or run this service with chroot = n", endpoint.c_str(), resolved->c_str() + 5);
    auto& ref = *c;
    _policies.emplace(endpoint, std::move(c));
    return ref;
}

void context::add_session(std::unique_ptr<session> sess) {
    static unsigned long serial = 0;
    sess->serial = ++serial;
    session* p = sess.get();
    _sessions.emplace(p, std::move(sess));
}

void context::end_session(session* sess) {
    auto it = _sessions.find(sess);
    if (it == _sessions.end()) return;
    auto owned = std::move(it->second);
    _sessions.erase(it);
    // never delete a session inside its own callback
    srv.loop.defer_delete(std::move(owned));
}

void context::client_disconnect(const std::string& addr) {
    auto it = _per_client.find(addr);
    if (it == _per_client.end()) return;
    if (--it->second <= 0) _per_client.erase(it);
}

void context::wake_qmgr() {
    if (_wake_pending) return;
    _wake_pending = true;
    // one wake-up for everything queued in this loop turn
    srv.loop.post([this] {
        _wake_pending = false;
        attr_list req;
        req.add("request", "wakeup");
        ipc_notify(s.qmgr_socket, req, 200);
    });
}

void context::stop() {
    for (auto& [p, sess] : _sessions) sess->shutdown();
    _sessions.clear();
    committer.reset();  // finishes the commits in flight
    _policies.clear();
    resolver.reset();
    _stopped = true;
}

}  // namespace tern::smtpd
