// tern_spam_spf.cpp - `tern-spam spf --ip ADDR --sender ADDR --helo NAME
// [--receiver NAME]`: one SPF check_host() (RFC 7208) with the daemon's
// code and main.cf's DNS and SPF settings, like spfquery. Prints the result
// word, then "explanation: TEXT" for a fail, "problem: TEXT" when the
// evaluation says why it failed, then the Received-SPF header spamd would add.
// An empty --sender checks the HELO identity (postmaster@HELO).
// Exit: 0 when a result was computed; 64 usage; 75 resolver failure.
#include <cstdio>

#include "cli/cli_config.hpp"
#include "cli/tern_spam.hpp"
#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "lib/spf.hpp"

namespace tern::spam_cli {

int cmd_spf(context& ctx, const std::vector<std::string>& args) {
    const config& cfg = ctx.cfg;
    using cli::ex_tempfail;
    using cli::ex_usage;
    spf::request req;
    bool have_ip = false, have_sender = false, have_helo = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (i + 1 >= args.size()) {
            std::fprintf(stderr, "tern-spam spf: %s needs a value\n", a.c_str());
            return ex_usage;
        }
        if (a == "--ip") req.ip = args[++i], have_ip = true;
        else if (a == "--sender") req.sender = args[++i], have_sender = true;
        else if (a == "--helo") req.helo = args[++i], have_helo = true;
        else if (a == "--receiver") req.receiver = args[++i];
        else {
            std::fprintf(stderr, "tern-spam spf: unknown option %s\n", a.c_str());
            return ex_usage;
        }
    }
    if (!have_ip || !have_sender || !have_helo) {
        std::fprintf(stderr, "usage: tern-spam [-c DIR] spf --ip ADDR --sender ADDR --helo NAME [--receiver NAME]\n");
        return ex_usage;
    }
    if (!req.sender.empty() && req.sender.front() == '<' && req.sender.back() == '>')
        req.sender = req.sender.substr(1, req.sender.size() - 2);
    if (req.receiver.empty()) req.receiver = cfg.get("myhostname");
    req.default_explanation = cfg.get("spf_default_explanation");

    event_loop loop;
    std::string err;
    auto res = dns::resolver::create(loop, cfg, err);
    if (!res) {
        std::fprintf(stderr, "tern-spam spf: DNS resolver: %s\n", err.c_str());
        return ex_tempfail;
    }
    std::optional<spf::outcome> got;
    auto chk = spf::check_host(loop, *res, req, spf::limits_from_config(cfg), [&](const spf::outcome& o) {
        got = o;
        loop.exit();
    });
    while (!got) loop.run();
    chk.reset();
    res.reset();

    std::printf("%s\n", spf::result_name(got->res));
    if (got->res == spf::result::fail) std::printf("explanation: %s\n", got->explanation.c_str());
    if (!got->problem.empty()) std::printf("problem: %s\n", got->problem.c_str());
    std::printf("%s\n", spf::received_spf_header(*got, req).c_str());
    log::debug("identity=%s domain=%s mechanism=%s lookups=%d void=%d", got->identity.c_str(), got->domain.c_str(),
               got->mechanism.c_str(), got->dns_lookups, got->void_lookups);
    return 0;
}

}  // namespace tern::spam_cli
