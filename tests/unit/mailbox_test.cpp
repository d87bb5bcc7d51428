// mailbox_test.cpp - the mail store on maildir: delivery, stable UIDs and
// UIDVALIDITY across reopen and concurrent delivery, flags in file names,
// new -> cur, \Recent, modseqs and UNCHANGEDSINCE, expunge and VANISHED,
// copy/move/append, folders and subscriptions, concurrent writers, index
// rebuild, and a 20k-message folder listed without reading messages.
#include "tests/unit/mailbox_test_util.hpp"

#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/config.hpp"
#include "lib/fd.hpp"
#include "lib/mailbox_impl.hpp"

using namespace tern;
using namespace tern::mailbox;
using namespace mailbox_test;

namespace {

std::unique_ptr<store> maildir_store_at(const std::string& path, limits lim = {}) {
    std::unique_ptr<store> st;
    REQUIRE(store::open({store_type::maildir, path, "", ""}, lim, st));
    return st;
}

std::unique_ptr<folder> open_f(store& st, const std::string& name, open_mode mode = open_mode::select) {
    std::unique_ptr<folder> f;
    auto s = st.open_folder(name, mode, f);
    INFO(name << ": " << s.reason);
    REQUIRE(s);
    return f;
}

changes sync_of(folder& f) {
    changes c;
    auto s = f.sync(c);
    INFO(s.reason);
    REQUIRE(s);
    return c;
}

void deliver(const std::string& dir, int n, uint32_t flags = 0) {
    auto s = deliver_maildir(dir, msg(n), flags);
    INFO(s.reason);
    REQUIRE(s);
}

}  // namespace

TEST_CASE("maildir delivery: unique names with sizes, tmp -> new, flags -> cur", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    delivered d;
    std::string m = msg(1);
    REQUIRE(deliver_maildir(md, m, 0, &d));
    CHECK(ls(md + "/tmp").empty());
    auto news = ls(md + "/new");
    REQUIRE(news.size() == 1);
    CHECK(d.path == md + "/new/" + news[0]);
    uint64_t size = 0, wire = 0;
    CHECK(sizes_from_name(news[0], size, wire));
    CHECK(size == m.size());
    CHECK(wire == m.size() + 5);  // five LFs become CRLF
    CHECK(d.wire_size == wire);
    CHECK(read_file(d.path) == m);
    CHECK(news[0].find(':') == std::string::npos);  // no ':' or '/' from the host name

    REQUIRE(deliver_maildir(md, msg(2), flag::seen | flag::flagged, &d));
    auto curs = ls(md + "/cur");
    REQUIRE(curs.size() == 1);
    CHECK(curs[0].ends_with(":2,FS"));

    // A message given by a reader, and a maildir++ folder created on the way.
    std::string big(200000, 'x');
    big += "\n";
    size_t pos = 0;
    message_reader r = [&](char* buf, size_t len) -> ssize_t {
        size_t n = std::min<size_t>({len, 777, big.size() - pos});
        std::memcpy(buf, big.data() + pos, n);
        pos += n;
        return ssize_t(n);
    };
    REQUIRE(deliver_maildir(md + "/.Lists.tern", r, 0, &d));
    CHECK(d.size == big.size());
    CHECK(read_file(d.path) == big);
    struct stat st;
    CHECK(::stat((md + "/.Lists.tern/maildirfolder").c_str(), &st) == 0);
    CHECK(::stat((md + "/new").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("maildir names and flag letters", "[mailbox]") {
    CHECK(flag_letters(flag::seen | flag::deleted | flag::draft | flag::answered, 0) == "DRST");
    CHECK(flag_letters(flag::flagged | flag::passed, 0b101) == "FPac");
    uint32_t f = 0, k = 0;
    parse_flag_letters("DFPRSTab", f, k);
    CHECK(f == flag::all);
    CHECK(k == 3);
    auto n = split_maildir_name("123.M1P2.host,S=10,W=12:2,RS");
    CHECK(n.base == "123.M1P2.host,S=10,W=12");
    CHECK(n.has_info);
    CHECK(n.letters == "RS");
    CHECK_FALSE(split_maildir_name("123.host").has_info);
    uint64_t s = 0, w = 0;
    CHECK(sizes_from_name("1.2.h,S=10,W=12", s, w));
    CHECK((s == 10 && w == 12));
    CHECK_FALSE(sizes_from_name("1.2.h,S=10", s, w));
    CHECK_FALSE(sizes_from_name("1.2.h,S=1x,W=2", s, w));
    CHECK(maildir_unique_base() != maildir_unique_base());
    CHECK(pop3_uidl(0x65432100, 7) == "6543210000000007");
    CHECK(wire_size_of("a\nb\r\nc") == 7);
}

TEST_CASE("limits come from main.cf", "[mailbox]") {
    config cfg;
    std::vector<config_error> errors;
    cfg.parse("mailbox_lock_timeout = 5s\nmailbox_vanished_limit = 7\nmailbox_fsync = no\n", "main.cf", errors);
    REQUIRE(errors.empty());
    limits l = limits::from_config(cfg);
    CHECK(l.lock_timeout == 5);
    CHECK(l.vanished_limit == 7);
    CHECK_FALSE(l.fsync);
    CHECK(l.stale_lock_time == 500);
    CHECK(l.index_log_limit == 1u << 20);
    CHECK(l.index_size_limit == uint64_t(512) << 20);
    CHECK(l.folder_limit == 10000);
}

TEST_CASE("UIDs and UIDVALIDITY are stable across reopen and concurrent delivery", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    for (int i = 1; i <= 3; i++) deliver(md, i);
    auto st = maildir_store_at(md);
    uint32_t uv;
    {
        auto f = open_f(*st, "INBOX", open_mode::read_only);
        CHECK(uids_of(*f) == std::vector<uint32_t>{1, 2, 3});
        uv = f->uidvalidity();
        CHECK(f->uidnext() == 4);
        for (uint32_t u = 1; u <= 3; u++) CHECK(read_msg(*f, u) == msg(int(u)));
        // EXAMINE leaves new/ alone.
        CHECK(ls(md + "/new").size() == 3);
    }
    auto a = open_f(*st, "INBOX");  // SELECT: new -> cur, all \Recent for this session
    CHECK(ls(md + "/new").empty());
    CHECK(ls(md + "/cur").size() == 3);
    CHECK(a->is_recent(1));
    CHECK(a->counts().recent == 3);
    auto b = open_f(*st, "INBOX");
    CHECK_FALSE(b->is_recent(1));
    CHECK(b->uidvalidity() == uv);

    // Delivery while both sessions are open: the next sync of each finds it.
    deliver(md, 4);
    deliver(md, 5);
    auto cb = sync_of(*b);
    CHECK(cb.added == std::vector<uint32_t>{4, 5});
    CHECK(b->is_recent(4));
    auto ca = sync_of(*a);
    CHECK(ca.added == std::vector<uint32_t>{4, 5});
    CHECK_FALSE(a->is_recent(4));  // b claimed them first
    CHECK(read_msg(*a, 4) == msg(4));
    CHECK(read_msg(*a, 5) == msg(5));
    CHECK(sync_of(*a).empty());

    a.reset();
    b.reset();
    auto c = open_f(*st, "INBOX", open_mode::read_only);
    CHECK(c->uidvalidity() == uv);
    CHECK(uids_of(*c) == std::vector<uint32_t>{1, 2, 3, 4, 5});
    for (uint32_t u = 1; u <= 5; u++) CHECK(read_msg(*c, u) == msg(int(u)));
    CHECK(c->find(2)->size == msg(2).size());
    CHECK(c->find(2)->wire_size == wire_size_of(msg(2)));
}

TEST_CASE("foreign files: no S=/W= in the name, odd info, symlinks", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    REQUIRE(make_maildir(md));
    std::string body = "Subject: foreign\n\nline\r\nother\n";
    REQUIRE(write_file_atomic(md + "/cur/1500000000.foreign.host:2,SRx", body, 0600));
    REQUIRE(write_file_atomic(md + "/new/1500000001.plain.host", body, 0600));
    REQUIRE(write_file_atomic(t.path + "/secret", "not mail\n", 0600));
    REQUIRE(::symlink((t.path + "/secret").c_str(), (md + "/cur/1500000002.link.host:2,").c_str()) == 0);
    auto st = maildir_store_at(md);
    auto f = open_f(*st, "INBOX", open_mode::read_only);
    REQUIRE(f->count() == 2);
    const message* m = f->find(1);
    REQUIRE(m);
    CHECK(m->size == body.size());
    CHECK(m->wire_size == body.size() + 3);  // three bare LFs, one CRLF already
    CHECK(m->flags == (flag::seen | flag::answered));
    CHECK(m->keywords == 0);  // 'x' names no keyword of this folder
    CHECK(read_msg(*f, 1) == body);
    CHECK(read_msg(*f, 2) == body);
    // A flag change renames the odd name to the canonical form.
    auto w = open_f(*st, "INBOX", open_mode::read_write);
    store_result r;
    REQUIRE(w->store({1}, flag_op::add, flag::flagged, 0, std::nullopt, r));
    CHECK(::access((md + "/cur/1500000000.foreign.host:2,FRS").c_str(), F_OK) == 0);
    CHECK(read_msg(*w, 1) == body);
}

TEST_CASE("flags live in file names; modseqs and UNCHANGEDSINCE", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    for (int i = 1; i <= 4; i++) deliver(md, i);
    auto st = maildir_store_at(md);
    auto a = open_f(*st, "INBOX");
    auto b = open_f(*st, "INBOX");
    uint64_t m0 = a->highestmodseq();

    store_result r;
    REQUIRE(a->store({1, 2}, flag_op::add, flag::seen | flag::flagged, 0, std::nullopt, r));
    REQUIRE(r.updated.size() == 2);
    uint64_t m1 = r.updated[0].modseq;
    CHECK(m1 > m0);
    CHECK(a->highestmodseq() == m1);
    CHECK(a->find(1)->flags == (flag::seen | flag::flagged));
    CHECK(a->find(1)->modseq == m1);
    auto cur = ls(md + "/cur");
    CHECK(std::count_if(cur.begin(), cur.end(), [](auto& n) { return n.ends_with(":2,FS"); }) == 2);

    // The other session hears of it on its next sync.
    auto c = sync_of(*b);
    CHECK(c.flags_changed == std::vector<uint32_t>{1, 2});
    CHECK(b->find(2)->flags == (flag::seen | flag::flagged));
    CHECK(b->highestmodseq() == m1);

    // Storing what is already there changes nothing, not even the modseq.
    REQUIRE(a->store({1}, flag_op::add, flag::seen, 0, std::nullopt, r));
    CHECK(r.updated.empty());
    CHECK(a->highestmodseq() == m1);

    // UNCHANGEDSINCE: message 1 was changed at m1, so "unchanged since m0" fails for it.
    REQUIRE(b->store({1, 3}, flag_op::replace, flag::answered, 0, m0, r));
    CHECK(r.modified == std::vector<uint32_t>{1});
    REQUIRE(r.updated.size() == 1);
    CHECK(r.updated[0].uid == 3);
    CHECK(r.updated[0].modseq > m1);
    CHECK(b->find(1)->flags == (flag::seen | flag::flagged));
    CHECK(b->find(3)->flags == flag::answered);
    CHECK(b->changed_since(m1) == std::vector<uint32_t>{3});

    // Keywords: named per folder, stored as letters, survive in tern-keywords.
    int bit = -1;
    REQUIRE(a->keyword_bit("$Work", true, bit));
    CHECK(bit == 0);
    REQUIRE(a->store({4}, flag_op::add, flag::draft, 1u << bit, std::nullopt, r));
    CHECK(a->find(4)->keywords == 1);
    cur = ls(md + "/cur");
    CHECK(std::count_if(cur.begin(), cur.end(), [](auto& n) { return n.ends_with(":2,Da"); }) == 1);
    CHECK(read_file(md + "/tern-keywords") == std::string("0 $Work\n"));
    auto cb = sync_of(*b);
    CHECK(cb.keywords_changed);
    CHECK(b->keywords() == std::vector<std::string>{"$Work"});
    int bb = -1;
    CHECK_FALSE(b->keyword_bit("$Other", false, bb));
    CHECK(b->keyword_bit("$work", false, bb));
    CHECK(bb == 0);

    // A flag change made behind our back (an MUA renaming the file) is picked up and gets a modseq.
    CHECK(sync_of(*a).flags_changed == std::vector<uint32_t>{3});
    std::string f2;
    for (auto& n : ls(md + "/cur"))
        if (n.ends_with(":2,FS")) f2 = n;
    REQUIRE_FALSE(f2.empty());
    std::string renamed = f2.substr(0, f2.size() - 2) + "S";
    REQUIRE(::rename((md + "/cur/" + f2).c_str(), (md + "/cur/" + renamed).c_str()) == 0);
    uint64_t before = a->highestmodseq();
    auto ca = sync_of(*a);
    REQUIRE(ca.flags_changed.size() == 1);
    CHECK(a->find(ca.flags_changed[0])->flags == flag::seen);
    CHECK(a->highestmodseq() > before);

    // Read-only sessions cannot change flags.
    auto ro = open_f(*st, "INBOX", open_mode::read_only);
    auto s = ro->store({1}, flag_op::add, flag::deleted, 0, std::nullopt, r);
    CHECK(s.err == EROFS);
}

TEST_CASE("expunge, VANISHED since a modseq, and bounded memory of expunges", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    for (int i = 1; i <= 6; i++) deliver(md, i);
    limits lim;
    lim.vanished_limit = 3;
    auto st = maildir_store_at(md, lim);
    auto a = open_f(*st, "INBOX");
    auto b = open_f(*st, "INBOX");
    uint64_t m0 = a->highestmodseq();
    store_result r;
    REQUIRE(a->store({2, 4}, flag_op::add, flag::deleted, 0, std::nullopt, r));
    std::vector<uint32_t> gone;
    std::vector<uint32_t> explicit_uids{1, 2};
    REQUIRE(a->expunge(&explicit_uids, true, gone));  // UID EXPUNGE 1:2: only \Deleted ones
    CHECK(gone == std::vector<uint32_t>{2});
    REQUIRE(a->expunge(nullptr, true, gone));
    CHECK(gone == std::vector<uint32_t>{4});
    CHECK(uids_of(*a) == std::vector<uint32_t>{1, 3, 5, 6});
    CHECK(ls(md + "/cur").size() == 4);
    uint64_t m1 = a->highestmodseq();
    CHECK(a->vanished_since(m0) == std::vector<uid_range>{{2, 2}, {4, 4}});
    CHECK(a->vanished_since(m1).empty());

    auto c = sync_of(*b);
    CHECK(c.expunged == std::vector<uint32_t>{2, 4});
    CHECK(c.flags_changed.empty());  // the \Deleted flags of gone messages are not news
    CHECK(b->vanished_since(m0) == std::vector<uid_range>{{2, 2}, {4, 4}});

    // POP3 style: an explicit set, \Deleted or not.
    std::vector<uint32_t> pop{1, 3};
    REQUIRE(b->expunge(&pop, false, gone));
    CHECK(gone == std::vector<uint32_t>{1, 3});
    // Four expunges, three remembered: asking from before the oldest gives every missing UID.
    CHECK(b->vanished_since(m0) == std::vector<uid_range>{{1, 4}});
    CHECK(b->vanished_since(m1) == std::vector<uid_range>{{1, 1}, {3, 3}});

    // A file deleted behind our back is an expunge too.
    auto files = ls(md + "/cur");
    REQUIRE(files.size() == 2);
    REQUIRE(::unlink((md + "/cur/" + files[0]).c_str()) == 0);
    auto ca = sync_of(*a);
    CHECK(ca.expunged.size() == 3);  // 1 and 3 by b, one by hand
    CHECK(a->count() == 1);
}

TEST_CASE("append, copy and move keep flags, dates and give COPYUID maps", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    for (int i = 1; i <= 3; i++) deliver(md, i);
    auto st = maildir_store_at(md);
    REQUIRE(st->ensure_default_folders());
    auto inbox = open_f(*st, "INBOX");
    auto arch = open_f(*st, "Archive", open_mode::read_write);
    uint32_t uv_arch = arch->uidvalidity();

    uint32_t uid = 0;
    std::string m = "Subject: appended\n\nhello\n";
    REQUIRE(arch->append(m, flag::seen | flag::draft, {"$Label1"}, 1600000000, uid));
    CHECK(uid == 1);
    CHECK(arch->uidnext() == 2);
    CHECK(read_msg(*arch, 1) == m);
    CHECK(arch->find(1)->internal_date == 1600000000);
    CHECK(arch->find(1)->flags == (flag::seen | flag::draft));
    CHECK(arch->keywords() == std::vector<std::string>{"$Label1"});

    store_result r;
    int bit = -1;
    REQUIRE(inbox->keyword_bit("$Other", true, bit));
    REQUIRE(inbox->keyword_bit("$Label1", true, bit));
    REQUIRE(inbox->store({2}, flag_op::add, flag::flagged, 3, std::nullopt, r));
    std::vector<std::pair<uint32_t, uint32_t>> map;
    REQUIRE(inbox->copy_to({2, 3, 99}, *arch, false, map));
    CHECK(map == std::vector<std::pair<uint32_t, uint32_t>>{{2, 2}, {3, 3}});
    CHECK(inbox->count() == 3);
    changes c = sync_of(*arch);
    CHECK(c.empty());  // its own writes are not news to the same object
    CHECK(read_msg(*arch, 2) == msg(2));
    CHECK(arch->find(2)->flags == flag::flagged);
    // Keywords map by name: $Label1 is bit 0 in Archive, bit 1 in INBOX.
    CHECK(arch->keywords() == std::vector<std::string>{"$Label1", "$Other"});
    CHECK(arch->find(2)->keywords == 3);
    CHECK(arch->find(2)->internal_date == inbox->find(2)->internal_date);

    REQUIRE(inbox->copy_to({1}, *arch, true, map));
    CHECK(map == std::vector<std::pair<uint32_t, uint32_t>>{{1, 4}});
    CHECK(uids_of(*inbox) == std::vector<uint32_t>{2, 3});
    CHECK(read_msg(*arch, 4) == msg(1));
    CHECK(arch->uidvalidity() == uv_arch);

    // Another session of Archive sees the copies as new mail.
    auto other = open_f(*st, "Archive", open_mode::read_only);
    CHECK(uids_of(*other) == std::vector<uint32_t>{1, 2, 3, 4});
}

TEST_CASE("folders: list attributes, create, delete, rename, INBOX rename, subscriptions", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    auto st = maildir_store_at(md);
    REQUIRE(st->ensure_default_folders());
    std::vector<folder_info> list;
    REQUIRE(st->list_folders(list));
    std::vector<std::string> names;
    for (auto& f : list) names.push_back(f.name);
    CHECK(names == std::vector<std::string>{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"});
    CHECK(list[4].attrs == (attr::sent | attr::has_no_children));
    std::vector<std::string> subs;
    REQUIRE(st->subscriptions(subs));
    CHECK(subs.size() == 6);

    REQUIRE(st->create_folder("Lists/tern.dev"));
    CHECK(::access((md + "/.Lists.tern%2Edev/cur").c_str(), F_OK) == 0);
    CHECK(::access((md + "/.Lists.tern%2Edev/maildirfolder").c_str(), F_OK) == 0);
    CHECK(st->create_folder("Lists/tern.dev").err == EEXIST);
    CHECK(st->create_folder("inbox").err == EEXIST);
    CHECK(st->create_folder("a//b").err == EINVAL);
    CHECK(st->create_folder("../x").err == EINVAL);
    REQUIRE(st->list_folders(list));
    auto find = [&](const std::string& n) -> const folder_info* {
        for (auto& f : list)
            if (f.name == n) return &f;
        return nullptr;
    };
    REQUIRE(find("Lists"));
    CHECK(find("Lists")->attrs == (attr::noselect | attr::has_children));
    CHECK(find("Lists/tern.dev")->attrs == attr::has_no_children);
    CHECK(attr_names(find("Lists")->attrs) == std::vector<std::string>{"\\Noselect", "\\HasChildren"});
    CHECK_FALSE(st->folder_exists("Lists"));
    CHECK(st->folder_exists("Lists/tern.dev"));

    // Rename moves the children and the subscriptions; UIDs come along.
    REQUIRE(st->create_folder("Lists"));
    REQUIRE(st->subscribe("Lists/tern.dev", true));
    deliver(md + "/.Lists.tern%2Edev", 1);
    uint32_t uv;
    {
        auto f = open_f(*st, "Lists/tern.dev");
        uv = f->uidvalidity();
    }
    REQUIRE(st->rename_folder("Lists", "Old/Lists"));
    CHECK_FALSE(st->folder_exists("Lists"));
    CHECK(st->folder_exists("Old/Lists"));
    {
        auto f = open_f(*st, "Old/Lists/tern.dev");
        CHECK(f->uidvalidity() == uv);
        CHECK(read_msg(*f, 1) == msg(1));
    }
    REQUIRE(st->subscriptions(subs));
    CHECK(std::find(subs.begin(), subs.end(), "Old/Lists/tern.dev") != subs.end());
    CHECK(std::find(subs.begin(), subs.end(), "Lists/tern.dev") == subs.end());
    CHECK(st->rename_folder("Old", "Old/x").err == EINVAL);
    CHECK(st->rename_folder("Nope", "Other").err == ENOENT);
    CHECK(st->rename_folder("Sent", "Trash").err == EEXIST);

    // Delete: a folder with children keeps its name as \Noselect; INBOX cannot go.
    REQUIRE(st->delete_folder("Old/Lists"));
    REQUIRE(st->list_folders(list));
    REQUIRE(find("Old/Lists"));
    CHECK((find("Old/Lists")->attrs & attr::noselect));
    CHECK(st->delete_folder("Old/Lists").err == ENOENT);
    CHECK(st->delete_folder("INBOX").err == EINVAL);
    {
        // A session on a deleted folder learns it is gone; the folder stays gone.
        auto f = open_f(*st, "Old/Lists/tern.dev", open_mode::read_write);
        REQUIRE(st->delete_folder("Old/Lists/tern.dev"));
        changes c;
        CHECK(f->sync(c).err == ENOENT);
        CHECK(::access((md + "/.Old.Lists.tern%2Edev").c_str(), F_OK) != 0);
        store_result r;
        CHECK_FALSE(f->store({1}, flag_op::add, flag::seen, 0, std::nullopt, r));
        CHECK(::access((md + "/.Old.Lists.tern%2Edev").c_str(), F_OK) != 0);
    }
    REQUIRE(st->list_folders(list));
    CHECK_FALSE(find("Old"));
    REQUIRE(st->subscribe("Sent", false));
    REQUIRE(st->subscriptions(subs));
    CHECK(std::find(subs.begin(), subs.end(), "Sent") == subs.end());

    // INBOX rename: the messages move to the new folder, INBOX stays (empty).
    for (int i = 1; i <= 3; i++) deliver(md, i);
    REQUIRE(st->rename_folder("INBOX", "Saved"));
    auto saved = open_f(*st, "Saved");
    CHECK(saved->count() == 3);
    CHECK(read_msg(*saved, 1) == msg(1));
    auto inbox = open_f(*st, "INBOX");
    CHECK(inbox->count() == 0);
    CHECK(ls(md + "/cur").empty());
    CHECK(ls(md + "/new").empty());
}

TEST_CASE("folder names", "[mailbox]") {
    struct row {
        const char* in;
        const char* out;  // nullptr: rejected
    };
    const row rows[] = {
        {"INBOX", "INBOX"}, {"inbox", "INBOX"}, {"InBoX/sub", "INBOX/sub"}, {"a/b/c", "a/b/c"},
        {"a.b", "a.b"}, {"&AOQ-", "&AOQ-"}, {"", nullptr}, {"/a", nullptr}, {"a/", nullptr},
        {"a//b", nullptr}, {"a/../b", nullptr}, {".", nullptr}, {"a*", nullptr}, {"a%", nullptr},
        {"a\tb", nullptr}, {"x/inbox", "x/inbox"},
    };
    for (auto& r : rows) {
        auto n = normalize_folder_name(r.in);
        INFO(r.in);
        if (r.out)
            CHECK(n == std::optional<std::string>(r.out));
        else
            CHECK_FALSE(n);
    }
    CHECK(maildirpp_encode("a/b.c") == ".a.b%2Ec");
    CHECK(maildirpp_decode(".a.b%2Ec") == std::optional<std::string>("a/b.c"));
    CHECK_FALSE(maildirpp_decode("..x"));
    CHECK_FALSE(maildirpp_decode(".a..b"));
    CHECK_FALSE(maildirpp_decode(".a%2e"));
    CHECK(special_use_of("Trash") == attr::trash);
    CHECK(special_use_of("Foo/Trash") == 0);
    CHECK(parse_system_flag("\\seen") == std::optional<uint32_t>(flag::seen));
    CHECK_FALSE(parse_system_flag("\\Recent"));
    CHECK(system_flag_names(flag::seen | flag::draft) == std::vector<std::string>{"\\Seen", "\\Draft"});
    CHECK(valid_keyword("$Forwarded"));
    CHECK_FALSE(valid_keyword("a b"));
    CHECK_FALSE(valid_keyword("\\Seen"));
}

TEST_CASE("a deleted, corrupt or torn index", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    for (int i = 1; i <= 3; i++) deliver(md, i);
    auto st = maildir_store_at(md);
    uint32_t uv;
    {
        auto f = open_f(*st, "INBOX");
        uv = f->uidvalidity();
        store_result r;
        int bit;
        REQUIRE(f->keyword_bit("$Work", true, bit));
        REQUIRE(f->store({2}, flag_op::add, flag::answered, 1, std::nullopt, r));
    }

    SECTION("a torn last log record is ignored and cut by the next writer") {
        unique_fd fd(::open((md + "/tern-index.log").c_str(), O_WRONLY | O_APPEND));
        REQUIRE(write_all(fd.get(), "f 1 99 1"));
        auto f = open_f(*st, "INBOX");
        CHECK(f->uidvalidity() == uv);
        CHECK(f->find(1)->flags == 0);
        store_result r;
        REQUIRE(f->store({3}, flag_op::add, flag::seen, 0, std::nullopt, r));
        auto g = open_f(*st, "INBOX", open_mode::read_only);
        CHECK(g->uidvalidity() == uv);
        CHECK(g->find(3)->flags == flag::seen);
        CHECK(g->find(1)->flags == 0);
    }
    SECTION("deleted") {
        REQUIRE(::unlink((md + "/tern-index").c_str()) == 0);
    }
    SECTION("corrupt") {
        REQUIRE(write_file_atomic(md + "/tern-index", "tern-index 1 7\nV garbage\n"));
    }
    SECTION("bad log record") {
        unique_fd fd(::open((md + "/tern-index.log").c_str(), O_WRONLY | O_APPEND));
        REQUIRE(write_all(fd.get(), "q what\n"));
    }
    auto f = open_f(*st, "INBOX", open_mode::read_only);
    REQUIRE(f->count() == 3);
    for (uint32_t u = 1; u <= 3; u++) CHECK(read_msg(*f, u) == msg(int(u)));
    // Flags and keyword names come back from the file names and tern-keywords.
    CHECK(f->find(2)->flags == flag::answered);
    CHECK(f->find(2)->keywords == 1);
    CHECK(f->keywords() == std::vector<std::string>{"$Work"});
    if (f->uidvalidity() != uv) CHECK(f->uidvalidity() > uv);
}

TEST_CASE("an open session survives an index rebuild with uidvalidity_changed", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    deliver(md, 1);
    auto st = maildir_store_at(md);
    auto a = open_f(*st, "INBOX");
    uint32_t uv = a->uidvalidity();
    ::unlink((md + "/tern-index").c_str());
    auto c = sync_of(*a);
    CHECK(c.uidvalidity_changed);
    CHECK(a->uidvalidity() != uv);
    CHECK(a->count() == 1);
}

TEST_CASE("two processes changing flags concurrently never corrupt the index", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    for (int i = 1; i <= 20; i++) deliver(md, i);
    auto st = maildir_store_at(md);
    uint32_t uv;
    {
        auto f = open_f(*st, "INBOX");
        uv = f->uidvalidity();
    }
    const int rounds = 60;
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = ::fork();
        if (kids[k] == 0) {
            limits lim;
            lim.index_log_limit = 4096;  // also exercise snapshot replacement under load
            std::unique_ptr<store> s2;
            std::unique_ptr<folder> f;
            if (!store::open({store_type::maildir, md, "", ""}, lim, s2) ||
                !s2->open_folder("INBOX", open_mode::read_write, f))
                _exit(2);
            for (int i = 0; i < rounds; i++) {
                store_result r;
                // Pairs: add then remove on the same message, so every flag ends clear.
                uint32_t uid = uint32_t(1 + ((i / 2) * 7 + k * 3) % 20);
                uint32_t fl = k == 0 ? flag::seen : flag::flagged;
                if (!f->store({uid}, i % 2 ? flag_op::remove : flag_op::add, fl, 0, std::nullopt, r)) _exit(3);
                changes c;
                if (!f->sync(c) || c.uidvalidity_changed) _exit(4);
            }
            _exit(0);
        }
    }
    for (pid_t p : kids) {
        int status = 0;
        REQUIRE(::waitpid(p, &status, 0) == p);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    auto f = open_f(*st, "INBOX", open_mode::read_only);
    CHECK(f->uidvalidity() == uv);
    REQUIRE(f->count() == 20);
    CHECK(f->highestmodseq() >= uint64_t(2 * rounds));
    // The index agrees with the file names.
    auto files = ls(md + "/cur");
    REQUIRE(files.size() == 20);
    for (size_t i = 0; i < f->count(); i++) {
        auto& m = f->at(i);
        std::string suffix = ":2," + flag_letters(m.flags, m.keywords);
        CHECK(std::count_if(files.begin(), files.end(), [&](auto& n) { return n.ends_with(suffix); }) >= 1);
    }
    // Each message was added and removed an equal number of times by each child.
    for (size_t i = 0; i < f->count(); i++) CHECK(f->at(i).flags == 0);
}

TEST_CASE("change notification through inotify, and the POP3 session lock", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    auto st = maildir_store_at(md);
    auto f = open_f(*st, "INBOX");
    notifier n;
    REQUIRE(n.init());
    REQUIRE(n.watch(*f, 42));
    deliver(md, 1);
    struct pollfd p{n.fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 2000) == 1);
    CHECK(n.read_events() == std::vector<uint64_t>{42});
    CHECK(sync_of(*f).added == std::vector<uint32_t>{1});
    n.unwatch(42);

    unique_fd l1, l2;
    REQUIRE(f->session_lock("pop3", l1));
    auto g = open_f(*st, "INBOX", open_mode::read_write);
    CHECK(g->session_lock("pop3", l2).err == EAGAIN);
    l1.reset();
    CHECK(g->session_lock("pop3", l2));
}

TEST_CASE("20k-message maildir is listed from names and the index, never the files", "[mailbox]") {
    temp_dir t;
    std::string md = t.path + "/Maildir";
    REQUIRE(make_maildir(md));
    const int n = 20000;
    // Hard links to one empty file whose names claim 1000 bytes: any size
    // read from a file would show (and links are quicker to make than files).
    std::string proto = md + "/tmp/proto";
    { unique_fd fd(::open(proto.c_str(), O_WRONLY | O_CREAT, 0600)); REQUIRE(fd); }
    for (int i = 0; i < n; i++) {
        char name[128];
        std::snprintf(name, sizeof name, "%d.M%dP1Q%d.bench,S=1000,W=1030:2,%s", 1600000000 + i, i, i,
                      i % 3 ? "S" : "");
        REQUIRE(::link(proto.c_str(), (md + "/cur/" + name).c_str()) == 0);
    }
    ::unlink(proto.c_str());
    auto st = maildir_store_at(md);
    auto t0 = std::chrono::steady_clock::now();
    auto f = open_f(*st, "INBOX", open_mode::read_only);  // builds the index
    auto t1 = std::chrono::steady_clock::now();
    REQUIRE(f->count() == size_t(n));
    uint64_t total = 0, seen = 0;
    for (size_t i = 0; i < f->count(); i++) {
        total += f->at(i).wire_size;
        seen += (f->at(i).flags & flag::seen) ? 1 : 0;
    }
    CHECK(total == uint64_t(n) * 1030);
    CHECK(seen == uint64_t(n - (n + 2) / 3));
    f.reset();
    auto t2 = std::chrono::steady_clock::now();
    auto g = open_f(*st, "INBOX", open_mode::read_only);  // reads the index
    changes c;
    REQUIRE(g->sync(c));
    auto t3 = std::chrono::steady_clock::now();
    CHECK(g->count() == size_t(n));
    CHECK(g->find(20000)->size == 1000);
    auto ms = [](auto a, auto b) { return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count(); };
    INFO("first open " << ms(t0, t1) << " ms, reopen+sync " << ms(t2, t3) << " ms");
    CHECK(ms(t0, t1) < 5000);
    CHECK(ms(t2, t3) < 2000);
}

// bench/mailbox_scale.sh runs this with TERN_MAILBOX_SCALE=100000.
TEST_CASE("mailbox scale benchmark", "[.mailbox_scale]") {
    const char* env = std::getenv("TERN_MAILBOX_SCALE");
    int n = env ? std::atoi(env) : 100000;
    temp_dir t;
    std::string md = t.path + "/Maildir";
    REQUIRE(make_maildir(md));
    std::string proto;
    for (int i = 0; i < n; i++) {
        if (i % 50000 == 0) {  // ext4 allows 65000 links to a file
            proto = md + "/tmp/proto" + std::to_string(i);
            unique_fd fd(::open(proto.c_str(), O_WRONLY | O_CREAT, 0600));
            REQUIRE(fd);
        }
        char name[128];
        std::snprintf(name, sizeof name, "%d.M%dP1Q%d.bench,S=1000,W=1030:2,S", 1600000000 + i, i, i);
        REQUIRE(::link(proto.c_str(), (md + "/cur/" + name).c_str()) == 0);
    }
    auto st = maildir_store_at(md);
    auto ms = [](auto a, auto b) { return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count(); };
    auto t0 = std::chrono::steady_clock::now();
    auto f = open_f(*st, "INBOX");
    auto t1 = std::chrono::steady_clock::now();
    f.reset();
    ::usleep(20000);  // let the directory times age past the clock tick
    open_f(*st, "INBOX", open_mode::read_only);  // may read cur/ once more to trust its mtime
    auto t1b = std::chrono::steady_clock::now();
    auto g = open_f(*st, "INBOX", open_mode::read_only);
    auto t2 = std::chrono::steady_clock::now();
    changes c;
    REQUIRE(g->sync(c));
    auto t3 = std::chrono::steady_clock::now();
    uint64_t sum = 0;
    for (size_t i = 0; i < g->count(); i++) sum += g->at(i).uid + g->at(i).flags + g->at(i).wire_size;
    auto t4 = std::chrono::steady_clock::now();
    deliver(md, 1);
    REQUIRE(g->sync(c));
    auto t5 = std::chrono::steady_clock::now();
    store_result r;
    auto h = open_f(*st, "INBOX", open_mode::read_write);
    REQUIRE(h->store({1}, flag_op::add, flag::flagged, 0, std::nullopt, r));
    auto t6 = std::chrono::steady_clock::now();
    CHECK(g->count() == size_t(n) + 1);
    std::printf("messages=%d first_open_ms=%lld reopen_ms=%lld sync_ms=%lld list_ms=%lld "
                "new_mail_sync_ms=%lld store_ms=%lld (checksum %llu)\n",
                n, (long long)ms(t0, t1), (long long)ms(t1b, t2), (long long)ms(t2, t3), (long long)ms(t3, t4),
                (long long)ms(t4, t5), (long long)ms(t5, t6), (unsigned long long)sum);
}
