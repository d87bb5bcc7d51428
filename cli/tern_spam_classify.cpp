// tern_spam_classify.cpp - `tern-spam classify [--user U] FILE...`: one line
// per message, "SCORE VERDICT NAME" (score 0.0000..1.0000, verdict spam,
// ham or unsure), from the same classifier code spamd uses.
// SECURITY: messages are untrusted; the tokeniser bounds the work.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli_config.hpp"
#include "cli/tern_spam.hpp"
#include "lib/log.hpp"

namespace tern::spam_cli {

int cmd_classify(context& ctx, const std::vector<std::string>& args) {
    std::string user;
    std::vector<std::string> inputs;
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& a = args[i];
        if (a == "--user" && i + 1 < args.size()) user = args[++i];
        else if (a.rfind("--user=", 0) == 0) user = a.substr(7);
        else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "usage: tern-spam [-c DIR] classify [--user U] FILE...\n");
            return cli::ex_usage;
        } else inputs.push_back(a);
    }
    if (inputs.empty()) inputs.push_back("-");
    bayes::settings s;
    if (!load_settings(ctx, s)) return cli::ex_config;
    bayes::classifier cl(s);
    std::vector<std::string> files;
    bool ok = collect_inputs(inputs, files);
    bool db_ok = true;
    for (const auto& f : files) {
        std::string err;
        bool read = for_each_message(
            f,
            [&](std::string_view msg, const std::string& name) {
                if (!db_ok) return;
                bayes::classification c;
                std::string cerr;
                bool done;
                {
                    db_identity as_owner(ctx.cfg);
                    done = cl.classify(msg, user, c, cerr);
                }
                if (!done) {
                    std::fprintf(stderr, "tern-spam: %s\n", cerr.c_str());
                    db_ok = false;
                    return;
                }
                std::printf("%.4f %s %s\n", c.score, bayes::verdict_name(c.result), name.c_str());
                log::debug("%s: tokens=%zu used=%zu trained_spam=%u trained_ham=%u", name.c_str(), c.tokens,
                           c.used, c.nspam, c.nham);
            },
            err);
        if (!read) {
            std::fprintf(stderr, "tern-spam: %s\n", err.c_str());
            ok = false;
        }
        if (!db_ok) break;
    }
    std::fflush(stdout);
    if (!db_ok) return cli::ex_tempfail;
    return ok ? 0 : 1;
}

}  // namespace tern::spam_cli
