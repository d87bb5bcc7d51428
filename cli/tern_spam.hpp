// tern_spam.hpp - `tern-spam`: shared declarations of its sub-commands
// (learn, classify, tokens; spf comes from the spamd side), the message
// reader for files, directories, maildirs and mbox files, and the
// privilege switch for database work.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/bayes.hpp"
#include "lib/config.hpp"

namespace tern::spam_cli {

// What every sub-command gets: the loaded main.cf.
struct context {
    config cfg;
    std::string config_dir;
    bool explicit_dir = false;
};

using command_fn = int (*)(context& ctx, const std::vector<std::string>& args);

int cmd_learn(context& ctx, const std::vector<std::string>& args);
int cmd_classify(context& ctx, const std::vector<std::string>& args);
int cmd_tokens(context& ctx, const std::vector<std::string>& args);

// The classifier settings of ctx; false after printing the reason.
bool load_settings(const context& ctx, bayes::settings& out);

// Input: the message files below the arguments. A directory that is a
// maildir (cur/ and new/) gives the files of cur/ and new/; another
// directory gives its files and, recursively, its subdirectories whose
// names do not start with '.'. "-" is standard input. Sorted by name.
// False (after printing why) when an argument cannot be read.
bool collect_inputs(const std::vector<std::string>& args, std::vector<std::string>& files);

// Calls fn for every message of one input file: a file that starts with
// an mbox "From " line is split into its messages (From_ line and mbox
// quoting removed; the name of message N of several is "FILE:N"),
// anything else is one message. False with err when the file cannot be read.
bool for_each_message(const std::string& file,
                      const std::function<void(std::string_view msg, const std::string& name)>& fn,
                      std::string& err);

// While alive, database work runs as the owner of bayes_directory (or of
// its nearest existing parent, normally data_directory, owned by
// mail_owner) when tern-spam was started as root, so that spamd can use
// the files it creates.
class db_identity {
public:
    explicit db_identity(const config& cfg);
    ~db_identity();
    db_identity(const db_identity&) = delete;
    db_identity& operator=(const db_identity&) = delete;

private:
    bool _switched = false;
};

// A progress bar on standard output when it is a terminal.
class progress {
public:
    progress(std::string label, size_t total);
    void step(size_t done, size_t messages);
    void finish();

private:
    std::string _label;
    size_t _total;
    bool _tty;
    int64_t _last_ns = 0;
    bool _drawn = false;
};

}  // namespace tern::spam_cli
