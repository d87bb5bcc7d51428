// cmd_copy.cpp - COPY, MOVE (RFC 6851) and their UID forms, with UIDPLUS's
// COPYUID (RFC 4315). Maildir copies are hard links (the mailbox library
// decides). Copying or moving into Junk teaches spamd "spam", out of Junk
// into anything but Trash "ham" (fire and forget, spam_learn.hpp).
#include <algorithm>
#include <cerrno>

#include "imapd/format.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"

namespace tern::imap {

namespace {
constexpr size_t kMaxLearnPerCommand = 100;
}  // namespace

void session::learn(const std::string& cls, const std::vector<uint32_t>& uids, mailbox::folder& from) {
    auto& l = _d.learner;
    if (!l.enabled()) return;
    size_t n = 0;
    for (uint32_t uid : uids) {
        if (n++ >= kMaxLearnPerCommand) {
            log::info("%s: user=%s: at most %zu messages per command are sent for spam training", _peer.c_str(),
                      _user.c_str(), kMaxLearnPerCommand);
            break;
        }
        std::string raw;
        if (auto st = from.read(uid, raw); !st) continue;
        l.learn(cls, _user, std::move(raw));
    }
}

namespace {
constexpr size_t kBatch = 500;  // messages copied per loop turn

struct copy_job {
    command c;
    bool move = false;
    std::vector<uint32_t> uids;
    size_t next = 0;
    std::unique_ptr<mailbox::folder> dest;
    std::string dest_name;
    std::string learn_class;
    bool any_gone = false;
    std::vector<uint32_t> src, dst;  // COPYUID
};

bool copy_step(session& s, copy_job& j) {
    selected_box& box = *s.sel();
    if (j.next < j.uids.size()) {
        size_t end = std::min(j.uids.size(), j.next + kBatch);
        std::vector<uint32_t> batch(j.uids.begin() + long(j.next), j.uids.begin() + long(end));
        if (!j.learn_class.empty() && j.next < kMaxLearnPerCommand) s.learn(j.learn_class, batch, *box.f);
        j.next = end;
        std::vector<std::pair<uint32_t, uint32_t>> map;
        auto st = box.f->copy_to(batch, *j.dest, j.move, map);
        std::vector<uint32_t> moved;
        for (auto& p : map) {
            j.src.push_back(p.first);
            j.dst.push_back(p.second);
            moved.push_back(p.first);
        }
        if (j.move) {
            std::sort(moved.begin(), moved.end());
            s.expunged_here(moved);
        }
        if (!st) {
            if (j.src.empty()) {
                s.fail(j.c, st);
            } else {
                log::warn("%s: user=%s: %s to %s failed after %zu messages: %s", s.peer().c_str(), s.user().c_str(),
                          j.c.name.c_str(), j.dest_name.c_str(), j.src.size(), st.reason.c_str());
                s.no(j.c, j.c.name + " failed after " + std::to_string(j.src.size()) + " messages: " + st.reason);
            }
            return true;
        }
        if (j.next < j.uids.size()) return false;
    }
    log::info("%s: user=%s: %s %zu messages from %s to %s", s.peer().c_str(), s.user().c_str(),
              j.move ? "moved" : "copied", j.src.size(), box.name.c_str(), j.dest_name.c_str());
    std::string code;
    if (!j.src.empty())
        code = "[COPYUID " + std::to_string(j.dest->uidvalidity()) + " " + format_set(j.src) + " " + format_set(j.dst) + "] ";
    if (!j.move) {
        s.ok(j.c, code + (j.any_gone ? "Some messages were expunged meanwhile; the rest were copied." : "Copy completed."));
        return true;
    }
    // RFC 6851: COPYUID in an untagged OK before the expunges
    if (!code.empty()) s.untagged("OK " + code + "Moved");
    s.ok(j.c, "Move completed.");
    return true;
}
}  // namespace

void session::cmd_copy(command& c) {
    bool move = c.name == "MOVE";
    if (c.args.size() != 2 || !c.args[0].is_atom()) return bad(c, "Usage: " + c.name + " sequence-set mailbox");
    std::string err;
    auto j = std::make_shared<copy_job>();
    auto uids = resolve_set(c.args[0].text, c.uid, err, &j->any_gone);
    if (!uids) return bad(c, err);
    auto dest_name = mailbox_arg(c.args[1], err);
    if (!dest_name) return no(c, "[CANNOT] " + err);
    if (move && _sel->read_only) return no(c, "[READ-ONLY] Mailbox is read-only");
    if (auto st = _store->open_folder(*dest_name, mailbox::open_mode::read_write, j->dest); !st) {
        if (st.err == ENOENT) return no(c, "[TRYCREATE] Mailbox does not exist");
        return fail(c, st);
    }
    if (uids->empty()) {
        if (j->any_gone) return no(c, "[EXPUNGEISSUED] The messages were expunged meanwhile");
        return ok(c, c.name + " completed.");
    }
    uint32_t to = mailbox::special_use_of(*dest_name), from = mailbox::special_use_of(_sel->name);
    if (to == mailbox::attr::junk && from != mailbox::attr::junk) j->learn_class = "spam";
    else if (from == mailbox::attr::junk && to != mailbox::attr::junk && to != mailbox::attr::trash) j->learn_class = "ham";
    j->c.tag = c.tag;
    j->c.name = c.name;
    j->c.uid = c.uid;
    j->move = move;
    j->uids = std::move(*uids);
    j->dest_name = *dest_name;
    start_job([this, j] { return copy_step(*this, *j); });
}

}  // namespace tern::imap
