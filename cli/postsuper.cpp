// postsuper.cpp - postsuper(1): queue maintenance for root or mail_owner.
// -d delete, -h put on hold, -H release from hold, -r requeue (process
// anew, keeping what was delivered), -p purge temporary files left by
// crashes, -s repair the hash directory structure. Safe while tern runs:
// files are locked (queue_lock) before they are moved or rewritten, and a
// file the qmgr holds locked is skipped, except by -d (docs/queue.md).
// SECURITY: IDs from the command line or stdin are validated before they
// become paths; queue names must be known queues.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "cli/queue_tool.hpp"
#include "lib/config.hpp"
#include "lib/fd.hpp"
#include "lib/queue_ctl.hpp"
#include "lib/queue_dir.hpp"
#include "lib/queue_file.hpp"
#include "lib/queue_id.hpp"
#include "lib/strutil.hpp"

using namespace tern;
namespace qt = tern::queue_tool;

namespace {

[[noreturn]] void usage() {
    qt::fatal(qt::ex_usage,
              "usage: postsuper [-v] [-c config_dir] [-d queue_id] [-h queue_id] [-H queue_id] [-p] [-r queue_id] "
              "[-s] [queue...]");
}

enum class op { remove, hold, release, requeue };

struct counters {
    unsigned removed = 0, held = 0, released = 0, requeued = 0, skipped = 0, bad = 0;
};

const char* verb(op o) {
    switch (o) {
    case op::remove: return "removed";
    case op::hold: return "placed on hold";
    case op::release: return "released from hold";
    case op::requeue: return "requeued";
    }
    return "";
}

// Postfix's defaults per operation.
std::vector<std::string_view> default_queues(op o) {
    switch (o) {
    case op::remove: return {"hold", "incoming", "active", "deferred"};
    case op::hold: return {"incoming", "active", "deferred"};
    case op::release: return {"hold"};
    case op::requeue: return {"hold", "incoming", "active", "deferred"};
    }
    return {};
}

bool queue_allowed(op o, std::string_view q) {
    if (o == op::release) return q == queue_names::hold;
    if (o == op::remove) return q == "maildrop" || q == "incoming" || q == "active" || q == "deferred" || q == "hold";
    return q == "incoming" || q == "active" || q == "deferred" || q == "hold";
}

class super {
public:
    super(const queue_dir& q) : _q(q) {}
    counters n;

    void apply(op o, const std::string& id, const std::vector<std::string_view>& queues) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            std::string queue;
            auto path = _q.find(id, queues, &queue);
            if (!path) {
                if (attempt == 0) qt::warn("%s: no such message in the %s queue%s", id.c_str(),
                                           join_views(queues).c_str(), queues.size() > 1 ? "s" : "");
                return;
            }
            switch (o == op::remove ? remove(id, *path) : change(o, id, queue)) {
            case result::done: return;
            case result::skip: ++n.skipped; return;
            case result::raced: continue;  // moved meanwhile: look again
            }
        }
        qt::warn("%s: keeps moving; skipped", id.c_str());
        ++n.skipped;
    }

private:
    enum class result { done, skip, raced };

    static std::string join_views(const std::vector<std::string_view>& v) {
        std::string s;
        for (size_t i = 0; i < v.size(); ++i) {
            if (i) s += i + 1 == v.size() ? " or " : ", ";
            s += v[i];
        }
        return s;
    }

    // Delete even when the qmgr holds the file: it keeps its descriptor and
    // treats the vanished name as "deleted by the administrator".
    result remove(const std::string& id, const std::string& path) {
        unique_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
        if (!fd && errno == ENOENT) return result::raced;
        // a maildrop file of another user cannot be opened (or locked) by
        // mail_owner, who may still remove it from its own directory
        if (!fd && errno != EACCES && errno != EPERM) return fail(id, "open", path);
        if (fd && queue_lock(fd.get(), false) == queue_lock_result::locked) {
            struct stat a, b;
            if (::fstat(fd.get(), &a) != 0 || ::lstat(path.c_str(), &b) != 0 || a.st_ino != b.st_ino)
                return result::raced;
        }
        if (::unlink(path.c_str()) != 0) return errno == ENOENT ? result::raced : fail(id, "unlink", path);
        qt::info("%s: %s", id.c_str(), verb(op::remove));
        ++n.removed;
        return result::done;
    }

    result change(op o, const std::string& id, const std::string& queue) {
        queue_file::open_status st;
        std::string err;
        auto f = queue_file::open(_q, queue, id, false, st, err, {.log = false});
        switch (st) {
        case queue_file::open_status::ok: break;
        case queue_file::open_status::not_found: return result::raced;
        case queue_file::open_status::locked:
            qt::warn("%s: skipped: locked by another process (being delivered); try again later", id.c_str());
            return result::skip;
        case queue_file::open_status::corrupt:
            qt::warn("%s: skipped: %s", id.c_str(), err.c_str());
            return result::skip;
        case queue_file::open_status::error:
            qt::warn("%s", err.c_str());
            return result::skip;
        }
        std::string to;
        schedule s = f->info().sched;
        switch (o) {
        case op::hold:
            to = "hold";
            break;
        case op::release:
            to = "deferred";
            s.next_try = 0;  // due now
            break;
        case op::requeue:
            to = "incoming";
            s.next_try = 0;
            s.attempts = 0;  // processed anew: backoff starts over
            break;
        case op::remove:
            return result::skip;
        }
        if (o != op::hold && !f->set_schedule(s, err)) {
            qt::warn("%s", err.c_str());
            return result::skip;
        }
        if (queue != to && !_q.move_path(f->path(), id, to, err)) {
            if (errno == ENOENT) return result::raced;
            qt::warn("%s: %s", id.c_str(), err.c_str());
            return result::skip;
        }
        qt::info("%s: %s", id.c_str(), verb(o));
        if (o == op::hold) ++n.held;
        else if (o == op::release) ++n.released;
        else ++n.requeued;
        return result::done;
    }

    result fail(const std::string& id, const char* what, const std::string& path) {
        qt::warn("%s: %s %s: %s", id.c_str(), what, path.c_str(), std::strerror(errno));
        return result::skip;
    }

    const queue_dir& _q;
};

void plural(const char* what, unsigned count) {
    if (count) qt::info("%s: %u message%s", what, count, count == 1 ? "" : "s");
}

// -s: files at the wrong hash depth (after hash_queue_depth changed) go to
// their place; missing directories are created like their parents.
unsigned repair(const queue_dir& q) {
    struct stat top;
    if (::stat(q.dir("incoming").c_str(), &top) != 0) qt::fatal(qt::ex_config, "cannot access %s: %s",
                                                               q.dir("incoming").c_str(), std::strerror(errno));
    struct stat drop;
    queue_tree_owner owner;
    if (::geteuid() == 0) {
        owner.uid = top.st_uid;
        owner.gid = top.st_gid;
        if (::stat(q.dir("maildrop").c_str(), &drop) == 0) owner.setgid_group = drop.st_gid;
    }
    std::string err;
    if (!create_queue_tree(q, owner, err)) qt::fatal(qt::ex_ioerr, "%s", err.c_str());
    unsigned moved = 0;
    for (auto queue : {queue_names::deferred, queue_names::hold}) {
        for (const auto& e : q.list(queue)) {
            if (e.path == q.path(queue, e.id)) continue;
            unique_fd fd(::open(e.path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
            if (!fd || queue_lock(fd.get(), false) != queue_lock_result::locked) continue;
            if (q.move_path(e.path, e.id, queue, err)) ++moved;
            else qt::warn("%s", err.c_str());
        }
    }
    return moved;
}

}  // namespace

int main(int argc, char** argv) {
    qt::set_program("postsuper");
    std::signal(SIGPIPE, SIG_IGN);
    std::string cdir;
    std::vector<std::pair<op, std::string>> ops;
    bool purge = false, structure = false;
    int ch;
    while ((ch = ::getopt(argc, argv, "c:d:h:H:pr:sv")) != -1) {
        switch (ch) {
        case 'c': cdir = optarg; break;
        case 'd': ops.emplace_back(op::remove, optarg); break;
        case 'h': ops.emplace_back(op::hold, optarg); break;
        case 'H': ops.emplace_back(op::release, optarg); break;
        case 'r': ops.emplace_back(op::requeue, optarg); break;
        case 'p': purge = true; break;
        case 's': structure = true; break;
        case 'v': break;
        default: usage();
        }
    }
    std::vector<std::string_view> queues;
    for (int i = optind; i < argc; ++i) {
        std::string_view name = argv[i];
        if (!queue_dir::is_message_queue(name) || name == "corrupt")
            qt::fatal(qt::ex_usage, "unknown queue: %s", printable(name, 60).c_str());
        queues.push_back(name);
    }
    if (ops.empty() && !purge && !structure) usage();

    config cfg;
    qt::load_config(cfg, qt::config_dir(cdir));
    queue_dir q = queue_dir::from_config(cfg);
    std::string incoming = q.dir("incoming");
    if (::access(incoming.c_str(), W_OK | X_OK) != 0)
        qt::fatal(errno == ENOENT ? qt::ex_config : qt::ex_noperm, "cannot modify the queue %s: %s%s", q.root().c_str(),
                  std::strerror(errno), errno == EACCES ? " (run as root or as mail_owner)" : "");

    if (structure) {
        if (unsigned moved = repair(q)) qt::info("Relocated: %u message%s", moved, moved == 1 ? "" : "s");
    }
    if (purge) {
        std::vector<std::string> removed;
        size_t count = purge_queue_temp_files(q, 60, &removed);
        for (const auto& p : removed) qt::info("%s: removed temporary file", p.c_str());
        if (count) qt::info("Removed: %zu temporary file%s", count, count == 1 ? "" : "s");
    }

    super s(q);
    std::vector<std::string> stdin_ids;
    bool stdin_read = false;
    for (const auto& [o, arg] : ops) {
        std::vector<std::string_view> use = queues.empty() ? default_queues(o) : queues;
        for (auto qn : use)
            if (!queue_allowed(o, qn))
                qt::fatal(qt::ex_usage, "-%c does not apply to the %s queue",
                          o == op::remove ? 'd' : o == op::hold ? 'h' : o == op::release ? 'H' : 'r',
                          std::string(qn).c_str());
        std::vector<std::string> ids;
        if (arg == "ALL") {
            for (auto qn : use)
                for (auto& e : q.list(qn)) ids.push_back(e.id);
        } else if (arg == "-") {
            if (!stdin_read) {
                std::string tok;
                while (std::cin >> tok) stdin_ids.push_back(tok);
                stdin_read = true;
            }
            ids = stdin_ids;
        } else {
            ids.push_back(arg);
        }
        for (const auto& id : ids) {
            if (!valid_queue_id(id)) {
                qt::warn("invalid queue ID: %s", printable(id, 60).c_str());
                ++s.n.bad;
                continue;
            }
            s.apply(o, id, use);
        }
    }
    plural("Deleted", s.n.removed);
    plural("Placed on hold", s.n.held);
    plural("Released from hold", s.n.released);
    plural("Requeued", s.n.requeued);
    // mail that became due: tell the qmgr (it also finds it on its next scan)
    if (s.n.released || s.n.requeued) qmgr_wakeup(q.root());
    return s.n.bad ? qt::ex_dataerr : 0;
}
