// tern_spam_tokens.cpp - `tern-spam tokens [--scores] [--user U] FILE...`:
// the tokens the classifier takes from each message, one per line (for
// debugging the tokeniser and explaining a verdict); with --scores also
// each token's spam and ham counts and f(w), most telling first.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli_config.hpp"
#include "cli/tern_spam.hpp"

namespace tern::spam_cli {

int cmd_tokens(context& ctx, const std::vector<std::string>& args) {
    bool scores = false;
    std::string user;
    std::vector<std::string> inputs;
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& a = args[i];
        if (a == "--scores") scores = true;
        else if (a == "--user" && i + 1 < args.size()) user = args[++i];
        else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "usage: tern-spam [-c DIR] tokens [--scores] [--user U] FILE...\n");
            return cli::ex_usage;
        } else inputs.push_back(a);
    }
    if (inputs.empty()) inputs.push_back("-");
    bayes::settings s;
    if (!load_settings(ctx, s)) return cli::ex_config;
    std::shared_ptr<const bayes::snapshot> global, personal;
    if (scores) {
        std::string err;
        db_identity as_owner(ctx.cfg);
        global = bayes::token_db(bayes::database_path(s.directory, "")).load(err);
        if (global && !user.empty()) personal = bayes::token_db(bayes::database_path(s.directory, user)).load(err);
        if (!global || (!user.empty() && !personal)) {
            std::fprintf(stderr, "tern-spam: %s\n", err.c_str());
            return cli::ex_tempfail;
        }
    }
    std::vector<std::string> files;
    bool ok = collect_inputs(inputs, files);
    for (const auto& f : files) {
        std::string err;
        bool read = for_each_message(
            f,
            [&](std::string_view msg, const std::string& name) {
                bayes::token_set tokens(s.limits.max_tokens, true);
                bayes::tokenize(msg, tokens, s.limits);
                if (files.size() > 1 || name != f) std::printf("==> %s <==\n", name.c_str());
                if (!scores) {
                    for (const auto& t : tokens.texts()) std::printf("%s\n", t.c_str());
                    return;
                }
                uint32_t ns = global->nspam + (personal ? personal->nspam : 0);
                uint32_t nh = global->nham + (personal ? personal->nham : 0);
                struct row {
                    double f;
                    bayes::counts c;
                    const std::string* t;
                };
                std::vector<row> rows;
                for (size_t i = 0; i < tokens.size(); i++) {
                    bayes::counts c = global->lookup(tokens.hashes()[i]);
                    if (personal) {
                        auto u = personal->lookup(tokens.hashes()[i]);
                        c.spam += u.spam;
                        c.ham += u.ham;
                    }
                    rows.push_back({bayes::token_probability(c, ns, nh, s.score), c, &tokens.texts()[i]});
                }
                std::stable_sort(rows.begin(), rows.end(), [](const row& a, const row& b) {
                    return std::fabs(a.f - 0.5) > std::fabs(b.f - 0.5);
                });
                for (const auto& r : rows)
                    std::printf("%.4f %6u %6u %s\n", r.f, r.c.spam, r.c.ham, r.t->c_str());
            },
            err);
        if (!read) {
            std::fprintf(stderr, "tern-spam: %s\n", err.c_str());
            ok = false;
        }
    }
    return ok ? 0 : 1;
}

}  // namespace tern::spam_cli
