// tern_spam_learn.cpp - `tern-spam learn --spam|--ham [--unlearn] [--user U]
// FILE|DIR|MBOX...`: trains the global token database (or a user's) with
// messages, in batches of one locked write session each. A message trained
// before as the other class is moved over (not counted twice); --unlearn
// removes earlier training. Progress bar when standard output is a terminal.
// SECURITY: input files are read as the invoking user; the databases are
// written as the owner of the database directory when run as root (db_identity).
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

#include "cli/cli_config.hpp"
#include "cli/tern_spam.hpp"

namespace tern::spam_cli {
namespace {

// A batch ends after this many messages or tokens (memory stays bounded;
// fewer, larger write sessions are faster).
constexpr size_t batch_messages = 1000;
constexpr size_t batch_tokens = 2000000;

int learn_usage() {
    std::fprintf(stderr, "usage: tern-spam [-c DIR] learn --spam|--ham [--unlearn] [--user U] FILE|DIR|MBOX...\n");
    return cli::ex_usage;
}

}  // namespace

int cmd_learn(context& ctx, const std::vector<std::string>& args) {
    int cls = -1;
    bool unlearn = false;
    std::string user;
    std::vector<std::string> inputs;
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& a = args[i];
        if (a == "--spam") cls = 0;
        else if (a == "--ham") cls = 1;
        else if (a == "--unlearn") unlearn = true;
        else if (a == "--user" && i + 1 < args.size()) user = args[++i];
        else if (a.rfind("--user=", 0) == 0) user = a.substr(7);
        else if (a == "--") inputs.insert(inputs.end(), args.begin() + long(i) + 1, args.end()), i = args.size();
        else if (a.size() > 1 && a[0] == '-') return learn_usage();
        else inputs.push_back(a);
    }
    if ((cls < 0 && !unlearn) || inputs.empty()) return learn_usage();
    auto mc = cls == 1 ? bayes::message_class::ham : bayes::message_class::spam;

    bayes::settings s;
    if (!load_settings(ctx, s)) return cli::ex_config;
    std::vector<std::string> files;
    bool inputs_ok = collect_inputs(inputs, files);
    bayes::token_db db(bayes::database_path(s.directory, user));

    size_t counted[5] = {};
    size_t messages = 0, done_files = 0;
    std::vector<bayes::token_db::item> batch;
    size_t batch_tok = 0;
    bool db_ok = true;
    auto flush = [&]() {
        if (batch.empty() || !db_ok) return;
        std::vector<bayes::learn_outcome> outcomes;
        std::string err;
        bool ok;
        {
            db_identity as_owner(ctx.cfg);
            ok = db.apply(batch, outcomes, err);
        }
        if (!ok) {
            std::fprintf(stderr, "%stern-spam: %s\n", ::isatty(1) ? "\n" : "", err.c_str());
            db_ok = false;
        }
        for (auto o : outcomes) counted[static_cast<int>(o)]++;
        batch.clear();
        batch_tok = 0;
    };

    progress bar(unlearn ? "unlearn" : std::string("learn ") + bayes::class_name(mc), files.size());
    bool read_ok = true;
    for (const auto& f : files) {
        std::string err;
        bool ok = for_each_message(
            f,
            [&](std::string_view msg, const std::string&) {
                bayes::token_set tokens(s.limits.max_tokens, true);
                bayes::tokenize(msg, tokens, s.limits);
                bayes::token_db::item it;
                it.id = bayes::message_id(msg);
                it.tokens = tokens.texts();
                it.cls = mc;
                it.unlearn = unlearn;
                batch_tok += it.tokens.size();
                batch.push_back(std::move(it));
                ++messages;
                if (batch.size() >= batch_messages || batch_tok >= batch_tokens) flush();
            },
            err);
        if (!ok) {
            std::fprintf(stderr, "%stern-spam: %s\n", ::isatty(1) ? "\n" : "", err.c_str());
            read_ok = false;
        }
        bar.step(++done_files, messages);
        if (!db_ok) break;
    }
    flush();
    bar.finish();
    using bayes::learn_outcome;
    if (unlearn) {
        std::printf("%s: %zu messages unlearned, %zu were not learned\n", db.path().c_str(),
                    counted[int(learn_outcome::unlearned)], counted[int(learn_outcome::not_learned)]);
    } else {
        std::printf("%s: %zu %s messages: %zu learned, %zu moved from %s, %zu already learned\n", db.path().c_str(),
                    messages, bayes::class_name(mc), counted[int(learn_outcome::learned)],
                    counted[int(learn_outcome::relearned)],
                    mc == bayes::message_class::spam ? "ham" : "spam", counted[int(learn_outcome::already)]);
    }
    if (!db_ok) return cli::ex_tempfail;
    return inputs_ok && read_ok ? 0 : 1;
}

}  // namespace tern::spam_cli
