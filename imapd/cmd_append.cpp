// cmd_append.cpp - APPEND (RFC 3501 6.3.11) with UIDPLUS's APPENDUID. The
// message arrives as a literal (its size already checked against
// imapd_literal_size_limit by the framer) and is stored with LF line ends,
// as the mail store keeps every message; FETCH gives back CRLF.
#include "imapd/format.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

void session::cmd_append(command& c) {
    const auto& a = c.args;
    if (a.size() < 2 || a.size() > 4) return bad(c, "Usage: APPEND mailbox [(flags)] [date-time] message");
    size_t i = 1;
    uint32_t flags = 0;
    std::vector<std::string> kws;
    std::string err;
    if (a[i].is_list()) {
        if (!parse_flag_args(a[i].items, 0, a[i].items.size(), flags, kws, err)) return bad(c, err);
        ++i;
    }
    int64_t date = 0;
    if (a.size() - i == 2) {
        if (!a[i].is_string()) return bad(c, "Expected a date-time string");
        auto d = parse_date_time(a[i].text);
        if (!d) return bad(c, "Invalid date-time " + printable(a[i].text, 40));
        date = *d;
        ++i;
    }
    if (i + 1 != a.size() || !a[i].is_string()) return bad(c, "APPEND needs the message as a literal");
    std::string_view message = a[i].text;
    auto name = mailbox_arg(a[0], err);
    if (!name) return no(c, "[CANNOT] " + err);
    if (message.empty()) return no(c, "Cannot append an empty message");
    mailbox::folder* target = nullptr;
    std::unique_ptr<mailbox::folder> own;
    if (_sel && _sel->name == *name && !_sel->read_only) {
        target = _sel->f.get();
    } else {
        if (auto st = _store->open_folder(*name, mailbox::open_mode::read_write, own); !st) {
            if (st.err == ENOENT) return no(c, "[TRYCREATE] Mailbox does not exist");
            return fail(c, st);
        }
        target = own.get();
    }
    size_t known = target->keywords().size();
    uint32_t uid = 0;
    if (auto st = target->append(crlf_to_lf(message), flags, kws, date, uid); !st) return fail(c, st);
    if (target == (_sel ? _sel->f.get() : nullptr) && target->keywords().size() != known) _sel->flags_changed = true;
    log::info("%s: user=%s: appended %zu bytes to %s, uid=%u", _peer.c_str(), _user.c_str(), message.size(),
              name->c_str(), uid);
    ok(c, "[APPENDUID " + std::to_string(target->uidvalidity()) + " " + std::to_string(uid) + "] Append completed.");
}

}  // namespace tern::imap
