// cmd_copy.cpp - COPY, MOVE (RFC 6851) and their UID forms, with UIDPLUS's
// COPYUID (RFC 4315). Maildir copies are hard links (the mailbox library
// decides). Copying or moving into Junk teaches spamd "spam", out of Junk
// into anything but Trash "ham" (fire and forget, spam_learn.hpp).
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
            log::info("%s: user=%s: only the first %zu messages are sent for spam training", _peer.c_str(),
                      _user.c_str(), kMaxLearnPerCommand);
            break;
        }
        std::string raw;
        if (auto st = from.read(uid, raw); !st) continue;
        l.learn(cls, _user, std::move(raw));
    }
}

void session::cmd_copy(command& c) {
    bool move = c.name == "MOVE";
    if (c.args.size() != 2 || !c.args[0].is_atom()) return bad(c, "Usage: " + c.name + " sequence-set mailbox");
    std::string err;
    bool any_gone = false;
    auto uids = resolve_set(c.args[0].text, c.uid, err, &any_gone);
    if (!uids) return bad(c, err);
    auto dest_name = mailbox_arg(c.args[1], err);
    if (!dest_name) return no(c, "[CANNOT] " + err);
    if (move && _sel->read_only) return no(c, "[READ-ONLY] Mailbox is read-only");
    std::unique_ptr<mailbox::folder> dest;
    if (auto st = _store->open_folder(*dest_name, mailbox::open_mode::read_write, dest); !st) {
        if (st.err == ENOENT) return no(c, "[TRYCREATE] Mailbox does not exist");
        return fail(c, st);
    }
    if (uids->empty()) {
        if (any_gone) return no(c, "[EXPUNGEISSUED] The messages were expunged meanwhile");
        return ok(c, c.name + " completed.");
    }
    uint32_t to_junk = mailbox::special_use_of(*dest_name), from_use = mailbox::special_use_of(_sel->name);
    std::string cls;
    if (to_junk == mailbox::attr::junk && from_use != mailbox::attr::junk) cls = "spam";
    else if (from_use == mailbox::attr::junk && to_junk != mailbox::attr::junk && to_junk != mailbox::attr::trash) cls = "ham";
    if (!cls.empty()) learn(cls, *uids, *_sel->f);

    std::vector<std::pair<uint32_t, uint32_t>> map;
    auto st = _sel->f->copy_to(*uids, *dest, move, map);
    if (move) {
        std::vector<uint32_t> moved;
        for (auto& p : map) moved.push_back(p.first);
        std::sort(moved.begin(), moved.end());
        expunged_here(moved);
    }
    if (!st) return fail(c, st);
    std::vector<uint32_t> src, dst;
    for (auto& p : map) {
        src.push_back(p.first);
        dst.push_back(p.second);
    }
    log::info("%s: user=%s: %s %zu messages from %s to %s", _peer.c_str(), _user.c_str(), move ? "moved" : "copied",
              map.size(), _sel->name.c_str(), dest_name->c_str());
    std::string code;
    if (!map.empty()) code = "[COPYUID " + std::to_string(dest->uidvalidity()) + " " + format_set(src) + " " + format_set(dst) + "] ";
    if (!move) return ok(c, code + (any_gone ? "Some messages were expunged meanwhile; the rest were copied." : "Copy completed."));
    // RFC 6851: COPYUID in an untagged OK before the expunges
    if (!code.empty()) untagged("OK " + code + "Moved");
    ok(c, "Move completed.");
}

}  // namespace tern::imap
