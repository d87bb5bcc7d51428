// postqueue.cpp - postqueue(1) and mailq(1): list the queue (-p in
// Postfix's mailq layout, -j as JSON lines) and ask the qmgr to flush it
// (-f all, -i one message, -s one site). Installed as mailq too: called by
// that name it lists like postqueue -p. Listing reads the queue files
// directly (root or mail_owner); flushing talks to public/qmgr.
// SECURITY: -i and -s arguments are checked before they are sent; listed
// texts come from queue files and are printed as printable text only.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "cli/queue_tool.hpp"
#include "lib/config.hpp"
#include "lib/fd.hpp"
#include "lib/queue_ctl.hpp"
#include "lib/queue_dir.hpp"
#include "lib/queue_id.hpp"
#include "lib/queue_list.hpp"
#include "lib/strutil.hpp"

using namespace tern;
namespace qt = tern::queue_tool;

namespace {

[[noreturn]] void usage() {
    if (qt::program() == "mailq") qt::fatal(qt::ex_usage, "usage: mailq [-v] [-c config_dir]");
    qt::fatal(qt::ex_usage, "usage: postqueue [-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site");
}

bool put(std::string_view s) {
    if (std::fwrite(s.data(), 1, s.size(), stdout) == s.size()) return true;
    if (errno == EPIPE) return false;  // reader went away (mailq | head)
    qt::fatal(qt::ex_ioerr, "output write error: %s", std::strerror(errno));
}

void need_read_access(const queue_dir& q) {
    for (auto queue : listing_queues) {
        if (queue == queue_names::maildrop) continue;  // write-only for submitters
        std::string d = q.dir(queue);
        if (::access(d.c_str(), R_OK | X_OK) != 0)
            qt::fatal(errno == ENOENT ? qt::ex_config : qt::ex_noperm, "cannot read the %s queue %s: %s%s",
                      std::string(queue).c_str(), d.c_str(), std::strerror(errno),
                      errno == EACCES ? " (run as root or as mail_owner)" : "");
    }
}

int list_queue(const queue_dir& q, bool json) {
    need_read_access(q);
    static char outbuf[1 << 16];
    std::setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    uint64_t count = 0, total = 0;
    bool open = true;
    queue_walk(
        q,
        [&](std::string_view queue, const std::string& id, const queue_file_info& info) {
            if (json) {
                open = put(queue_json_entry(queue, id, info));
            } else {
                open = put(count == 0 ? mailq_heading() : std::string("\n")) && put(mailq_entry(queue, id, info));
            }
            ++count;
            total += info.message_size();
            return open;
        },
        [](const std::string& w) { qt::warn("%s", w.c_str()); });
    if (open && !json) put(count == 0 ? std::string(mailq_empty) : mailq_summary(count, total));
    if (std::fflush(stdout) != 0 && errno != EPIPE) qt::fatal(qt::ex_ioerr, "output write error: %s", std::strerror(errno));
    return 0;
}

bool valid_site(const std::string& s) {
    if (s.empty() || s.size() > 255) return false;
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= ' ' || u == 0x7f || c == '@' || c == '/') return false;
    }
    return true;
}

int flush(const config& cfg, const queue_dir& q, const flush_request& req) {
    int64_t t = cfg.get_time("ipc_timeout");
    int timeout_ms = static_cast<int>(std::min<int64_t>(t, 3600) * 1000);
    std::string err;
    std::string what = !req.queue_id.empty() ? "message " + req.queue_id
                       : !req.site.empty()   ? "mail for " + req.site
                                             : std::string("the mail queue");
    switch (qmgr_flush(q.root(), req, timeout_ms, err)) {
    case qmgr_reply::ok:
        return 0;
    case qmgr_reply::not_running:
        qt::fatal(qt::ex_unavailable, "Cannot flush %s - %s", what.c_str(), err.c_str());
    case qmgr_reply::refused:
        qt::fatal(qt::ex_unavailable, "Cannot flush %s: %s", what.c_str(), err.c_str());
    case qmgr_reply::failed:
        break;
    }
    qt::fatal(qt::ex_software, "Cannot flush %s: no valid reply from the qmgr: %s", what.c_str(), err.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    std::string prog = argc > 0 ? basename_of(argv[0]) : "postqueue";
    qt::set_program(prog == "mailq" ? "mailq" : "postqueue");
    std::signal(SIGPIPE, SIG_IGN);
    std::string cdir;
    char mode = qt::program() == "mailq" ? 'p' : 0;
    std::string arg;
    int ch;
    while ((ch = ::getopt(argc, argv, qt::program() == "mailq" ? "c:v" : "c:fi:jps:v")) != -1) {
        switch (ch) {
        case 'c': cdir = optarg; break;
        case 'v': break;  // accepted for compatibility
        case 'f': case 'j': case 'p':
            if (mode && !(qt::program() == "mailq")) usage();
            mode = static_cast<char>(ch);
            break;
        case 'i': case 's':
            if (mode) usage();
            mode = static_cast<char>(ch);
            arg = optarg;
            break;
        default: usage();
        }
    }
    if (optind != argc || !mode) usage();

    config cfg;
    qt::load_config(cfg, qt::config_dir(cdir));
    queue_dir q = queue_dir::from_config(cfg);
    flush_request req;
    switch (mode) {
    case 'p': return list_queue(q, false);
    case 'j': return list_queue(q, true);
    case 'f': return flush(cfg, q, req);
    case 'i':
        if (!valid_queue_id(arg)) qt::fatal(qt::ex_usage, "invalid queue ID: %s", printable(arg, 100).c_str());
        req.queue_id = arg;
        return flush(cfg, q, req);
    case 's':
        if (!valid_site(arg)) qt::fatal(qt::ex_usage, "invalid site name: %s", printable(arg, 100).c_str());
        req.site = arg;
        return flush(cfg, q, req);
    }
    usage();
}
