// mailbox_mbox_test.cpp - the mail store on mbox: delivery with From_
// quoting, truncate-back when a write fails, dotlocks, UIDs kept across
// deliveries, external rewrites and index loss, lazy flag write-back,
// expunge by rewrite, APPEND, and mbox folders.
#include "tests/unit/mailbox_test_util.hpp"

#include <csignal>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fd.hpp"
#include "lib/mailbox_impl.hpp"
#include "lib/mbox_format.hpp"

using namespace tern;
using namespace tern::mailbox;
using namespace mailbox_test;

namespace {

struct mbox_env {
    temp_dir t;
    std::string inbox = t.path + "/spool/user";
    std::string mail = t.path + "/mail";
    limits lim;
    std::unique_ptr<store> st;
    mbox_env() {
        lim.lock_timeout = 2;
        REQUIRE(store::open({store_type::mbox, inbox, mail, ""}, lim, st));
    }
    void deliver(int n, const std::string& extra = "") {
        auto s = deliver_mbox(inbox, "sender@example.org", msg(n, extra), lim);
        INFO(s.reason);
        REQUIRE(s);
    }
    std::unique_ptr<folder> open(const std::string& name = "INBOX", open_mode mode = open_mode::select) {
        std::unique_ptr<folder> f;
        auto s = st->open_folder(name, mode, f);
        INFO(s.reason);
        REQUIRE(s);
        return f;
    }
};

changes sync_of(folder& f) {
    changes c;
    auto s = f.sync(c);
    INFO(s.reason);
    REQUIRE(s);
    return c;
}

}  // namespace

TEST_CASE("mbox delivery quotes From_ lines and reads back byte for byte", "[mailbox]") {
    mbox_env e;
    std::string tricky = "From the start of a line\n>From quoted once\n>>From twice\nFrom\nno newline at the end";
    e.deliver(1, tricky);
    e.deliver(2);
    auto text = read_file(e.inbox);
    REQUIRE(text);
    CHECK(text->starts_with("From sender@example.org "));
    CHECK(text->find("\n>From the start of a line\n>>From quoted once\n>>>From twice\nFrom\n") != std::string::npos);
    CHECK(mbox::split(*text, 0).size() == 2);
    struct stat st;
    REQUIRE(::stat(e.inbox.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(::access((e.inbox + ".lock").c_str(), F_OK) != 0);  // dotlock released

    auto f = e.open();
    REQUIRE(f->count() == 2);
    CHECK(read_msg(*f, 1) == msg(1, tricky) + "\n");  // the unterminated last line got its newline
    CHECK(read_msg(*f, 2) == msg(2));
    CHECK(f->find(2)->size == msg(2).size());
    CHECK(f->find(2)->wire_size == wire_size_of(msg(2)));
    std::string part;
    REQUIRE(f->read(2, 6, 6, part));
    CHECK(part == "sender");
    unique_fd fd;
    CHECK(f->open_message(1, fd).err == ENOTSUP);
}

TEST_CASE("mbox delivery failing mid-write leaves the file as it was", "[mailbox]") {
    mbox_env e;
    e.deliver(1);
    auto before = read_file(e.inbox);
    REQUIRE(before);
    pid_t pid = ::fork();
    if (pid == 0) {
        // A file size limit makes the append fail part way with EFBIG.
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl{before->size() + 100, before->size() + 100};
        ::setrlimit(RLIMIT_FSIZE, &rl);
        std::string big(5000, 'x');
        auto s = deliver_mbox(e.inbox, "a@b", "Subject: big\n\n" + big + "\n", e.lim);
        _exit(s ? 1 : (s.err == EFBIG ? 0 : 2));
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_file(e.inbox) == before);
    CHECK(::access((e.inbox + ".lock").c_str(), F_OK) != 0);
    e.deliver(2);
    auto f = e.open();
    CHECK(f->count() == 2);
    CHECK(read_msg(*f, 2) == msg(2));
}

TEST_CASE("mbox dotlocks: a stale one is removed, a live one makes delivery wait and fail", "[mailbox]") {
    mbox_env e;
    e.deliver(1);
    std::string lock = e.inbox + ".lock";
    {
        unique_fd fd(::open(lock.c_str(), O_WRONLY | O_CREAT, 0600));
        REQUIRE(fd);
    }
    e.lim.lock_timeout = 1;
    auto s = deliver_mbox(e.inbox, "a@b", msg(2), e.lim);
    CHECK(s.err == EAGAIN);
    struct timeval old[2] = {{::time(nullptr) - 1000, 0}, {::time(nullptr) - 1000, 0}};
    REQUIRE(::utimes(lock.c_str(), old) == 0);
    s = deliver_mbox(e.inbox, "a@b", msg(2), e.lim);
    INFO(s.reason);
    CHECK(s);
    CHECK(::access(lock.c_str(), F_OK) != 0);
}

TEST_CASE("mbox UIDs survive deliveries, reopen, a lost index and a foreign rewrite", "[mailbox]") {
    mbox_env e;
    for (int i = 1; i <= 3; i++) e.deliver(i);
    auto a = e.open();
    uint32_t uv = a->uidvalidity();
    CHECK(a->is_recent(3));
    e.deliver(4);
    auto c = sync_of(*a);
    CHECK(c.added == std::vector<uint32_t>{4});
    CHECK(read_msg(*a, 4) == msg(4));

    // Flags are written back lazily: the file changes only at checkpoint().
    store_result r;
    REQUIRE(a->store({2}, flag_op::add, flag::seen | flag::answered, 0, std::nullopt, r));
    int bit;
    REQUIRE(a->keyword_bit("$Work", true, bit));
    REQUIRE(a->store({3}, flag_op::add, flag::flagged, 1u << bit, std::nullopt, r));
    CHECK(read_file(e.inbox)->find("Status:") == std::string::npos);
    auto b = e.open("INBOX", open_mode::read_only);
    CHECK(b->find(2)->flags == (flag::seen | flag::answered));
    REQUIRE(a->checkpoint());
    auto text = *read_file(e.inbox);
    CHECK(text.find("Status: RO\nX-Status: A\n") != std::string::npos);
    CHECK(text.find("X-Status: F\nX-Keywords: $Work\n") != std::string::npos);
    CHECK(read_msg(*a, 2) == msg(2));  // the flag headers are not part of the message
    CHECK(read_msg(*b, 3) == msg(3));  // the other session finds the rewritten file
    CHECK(a->uidvalidity() == uv);

    SECTION("lost index: flags come back from the file") {
        a.reset();
        b.reset();
        REQUIRE(::unlink((e.mail + "/.tern-index/INBOX.idx").c_str()) == 0);
        auto f = e.open("INBOX", open_mode::read_only);
        REQUIRE(f->count() == 4);
        CHECK(f->find(2)->flags == (flag::seen | flag::answered));
        CHECK(f->find(3)->flags == flag::flagged);
        CHECK(f->keywords() == std::vector<std::string>{"$Work"});
        for (uint32_t u = 1; u <= 4; u++) CHECK(read_msg(*f, u) == msg(int(u)));
    }
    SECTION("a foreign program rewrites the mbox without message 1") {
        auto starts = mbox::split(text, 0);
        REQUIRE(starts.size() == 4);
        std::string without_first = text.substr(starts[1]);
        // ...and marks message 4 read itself.
        auto p = without_first.find("Subject: message 4\n");
        REQUIRE(p != std::string::npos);
        without_first.insert(p, "Status: R\n");
        REQUIRE(write_file_atomic(e.inbox, without_first, 0600));
        c = sync_of(*b);
        CHECK(c.expunged == std::vector<uint32_t>{1});
        CHECK(c.flags_changed == std::vector<uint32_t>{4});
        CHECK(uids_of(*b) == std::vector<uint32_t>{2, 3, 4});
        CHECK(b->uidvalidity() == uv);
        CHECK(b->find(4)->flags == flag::seen);
        for (uint32_t u = 2; u <= 4; u++) CHECK(read_msg(*b, u) == msg(int(u)));
    }
}

TEST_CASE("mbox expunge rewrites the file; APPEND adds with flags", "[mailbox]") {
    mbox_env e;
    for (int i = 1; i <= 4; i++) e.deliver(i, i == 2 ? "From inside\n" : "");
    auto a = e.open();
    auto b = e.open("INBOX", open_mode::read_write);
    uint64_t m0 = a->highestmodseq();
    store_result r;
    REQUIRE(a->store({1, 3}, flag_op::add, flag::deleted, 0, std::nullopt, r));
    std::vector<uint32_t> gone;
    REQUIRE(a->expunge(nullptr, true, gone));
    CHECK(gone == std::vector<uint32_t>{1, 3});
    CHECK(uids_of(*a) == std::vector<uint32_t>{2, 4});
    auto text = *read_file(e.inbox);
    CHECK(mbox::split(text, 0).size() == 2);
    CHECK(text.find("message 1") == std::string::npos);
    CHECK(read_msg(*a, 2) == msg(2, "From inside\n"));
    CHECK(a->vanished_since(m0) == std::vector<uid_range>{{1, 1}, {3, 3}});
    auto c = sync_of(*b);
    CHECK(c.expunged == std::vector<uint32_t>{1, 3});
    CHECK(read_msg(*b, 4) == msg(4));

    // Mail delivered before an APPEND gets its UID first.
    e.deliver(5);
    uint32_t uid = 0;
    std::string m = "Subject: appended\n\nFrom here\n";
    REQUIRE(b->append(m, flag::seen, {"$Sent"}, 1600000000, uid));
    CHECK(uid == 6);
    CHECK(read_msg(*b, 6) == m);
    CHECK(b->find(6)->internal_date == 1600000000);
    c = sync_of(*a);
    CHECK(c.added == std::vector<uint32_t>{5, 6});
    CHECK(a->find(6)->flags == flag::seen);
    CHECK(a->keywords() == std::vector<std::string>{"$Sent"});
    CHECK(read_msg(*a, 5) == msg(5));
    text = *read_file(e.inbox);
    CHECK(text.find("X-Keywords: $Sent\n") != std::string::npos);

    // POP3: explicit deletion of what the session listed, applied at QUIT.
    std::vector<uint32_t> pop{2, 5};
    REQUIRE(b->expunge(&pop, false, gone));
    CHECK(gone == pop);
    auto f = e.open("INBOX", open_mode::read_only);
    CHECK(uids_of(*f) == std::vector<uint32_t>{4, 6});
    CHECK(read_msg(*f, 4) == msg(4));
    CHECK(read_msg(*f, 6) == m);
}

TEST_CASE("mbox folders: create, list, copy between store types, rename, delete", "[mailbox]") {
    mbox_env e;
    REQUIRE(e.st->ensure_default_folders());
    REQUIRE(e.st->create_folder("Projects/tern"));
    CHECK(e.st->create_folder("Projects/tern").err == EEXIST);
    CHECK(e.st->create_folder("INBOX/x").err == EINVAL);
    CHECK(e.st->create_folder("x.lock").err == EINVAL);
    CHECK(e.st->create_folder(".hidden").err == EINVAL);
    std::vector<folder_info> list;
    REQUIRE(e.st->list_folders(list));
    std::vector<std::string> names;
    for (auto& f : list) names.push_back(f.name);
    CHECK(names == std::vector<std::string>{"INBOX", "Archive", "Drafts", "Junk", "Projects", "Projects/tern",
                                            "Sent", "Trash"});
    CHECK(list[4].attrs == (attr::noselect | attr::has_children));
    CHECK(list[5].attrs == (attr::noinferiors | attr::has_no_children));
    CHECK(list[6].attrs == (attr::noinferiors | attr::has_no_children | attr::sent));

    e.deliver(1);
    e.deliver(2);
    auto inbox = e.open();
    auto proj = e.open("Projects/tern", open_mode::read_write);
    std::vector<std::pair<uint32_t, uint32_t>> map;
    REQUIRE(inbox->copy_to({1, 2}, *proj, false, map));
    CHECK(map == std::vector<std::pair<uint32_t, uint32_t>>{{1, 1}, {2, 2}});
    CHECK(read_msg(*proj, 2) == msg(2));
    uint32_t uv = proj->uidvalidity();
    proj.reset();

    // Copy from maildir into mbox and back: stores mix.
    temp_dir t2;
    std::unique_ptr<store> md;
    REQUIRE(store::open({store_type::maildir, t2.path + "/Maildir", "", ""}, e.lim, md));
    std::unique_ptr<folder> mdi;
    REQUIRE(md->open_folder("INBOX", open_mode::select, mdi));
    REQUIRE(inbox->copy_to({2}, *mdi, false, map));
    CHECK(read_msg(*mdi, 1) == msg(2));
    REQUIRE(mdi->copy_to({1}, *inbox, true, map));
    CHECK(map == std::vector<std::pair<uint32_t, uint32_t>>{{1, 3}});
    CHECK(mdi->count() == 0);
    sync_of(*inbox);
    CHECK(read_msg(*inbox, 3) == msg(2));

    REQUIRE(e.st->rename_folder("Projects", "Old"));
    {
        auto f = e.open("Old/tern", open_mode::read_only);
        CHECK(f->uidvalidity() == uv);
        CHECK(f->count() == 2);
    }
    CHECK(e.st->delete_folder("Old").err == ENOTEMPTY);
    REQUIRE(e.st->delete_folder("Old/tern"));
    REQUIRE(e.st->delete_folder("Old"));
    REQUIRE(e.st->list_folders(list));
    CHECK(list.size() == 6);

    // INBOX rename moves the messages out; the mbox INBOX remains, empty.
    inbox.reset();
    REQUIRE(e.st->rename_folder("INBOX", "Saved"));
    auto saved = e.open("Saved");
    CHECK(saved->count() == 3);
    CHECK(read_msg(*saved, 1) == msg(1));
    auto ib = e.open();
    CHECK(ib->count() == 0);
    CHECK(read_file(e.inbox) == std::string());
}

TEST_CASE("an mbox store without a folder directory holds only INBOX", "[mailbox]") {
    temp_dir t;
    std::unique_ptr<store> st;
    REQUIRE(store::open({store_type::mbox, t.path + "/user", "", ""}, limits{}, st));
    REQUIRE(st->ensure_default_folders());
    std::vector<folder_info> list;
    REQUIRE(st->list_folders(list));
    REQUIRE(list.size() == 1);
    CHECK(list[0].name == "INBOX");
    CHECK(st->create_folder("Sent").err == ENOTSUP);
    REQUIRE(deliver_mbox(t.path + "/user", "", msg(1), limits{}));
    std::unique_ptr<folder> f;
    REQUIRE(st->open_folder("inbox", open_mode::select, f));
    CHECK(f->count() == 1);
    CHECK(::access((t.path + "/user.tern-index/INBOX.idx").c_str(), F_OK) == 0);
}

// mbox flag changes touch only the index log (the file waits for a
// checkpoint), so the reader's view comes from the log alone.
TEST_CASE("a reader sees a log record only once it is complete, cut at every byte", "[mailbox]") {
    mbox_env e;
    for (int i = 1; i <= 3; i++) e.deliver(i);
    auto b = e.open("INBOX", open_mode::read_only);
    std::string log = e.mail + "/.tern-index/INBOX.idx.log";
    auto before = read_file(log);
    REQUIRE(before);
    pid_t pid = ::fork();
    if (pid == 0) {
        // The writer exits without its destructor, which would write the flags into the file.
        std::unique_ptr<folder> a;
        int bit;
        store_result r;
        bool ok = e.st->open_folder("INBOX", open_mode::read_write, a) && a->keyword_bit("$Work", true, bit) &&
                  a->store({2}, flag_op::add, flag::seen, 1, std::nullopt, r) &&
                  a->store({3}, flag_op::add, flag::flagged, 0, std::nullopt, r);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    auto after = read_file(log);
    REQUIRE(after);
    REQUIRE(after->starts_with(*before));
    std::string tail = after->substr(before->size());
    REQUIRE(std::count(tail.begin(), tail.end(), '\n') == 4);  // k, d, f, f
    unique_fd fd(::open(log.c_str(), O_WRONLY));
    REQUIRE(::ftruncate(fd.get(), off_t(before->size())) == 0);
    std::vector<uint32_t> reported;
    for (size_t k = 1; k <= tail.size(); k++) {
        REQUIRE(::pwrite(fd.get(), tail.data() + k - 1, 1, off_t(before->size() + k - 1)) == 1);
        auto c = sync_of(*b);
        INFO("byte " << k << " of " << tail.size());
        CHECK_FALSE(c.uidvalidity_changed);
        CHECK(c.added.empty());
        CHECK(c.expunged.empty());
        if (tail[k - 1] != '\n') CHECK(c.flags_changed.empty());
        reported.insert(reported.end(), c.flags_changed.begin(), c.flags_changed.end());
        // Never half a record: message 2 has both of its changes or none.
        auto* m = b->find(2);
        CHECK((m->flags == 0 ? m->keywords == 0 : (m->flags == flag::seen && m->keywords == 1)));
    }
    CHECK(reported == std::vector<uint32_t>{2, 3});
    CHECK(b->keywords() == std::vector<std::string>{"$Work"});
    CHECK(b->find(3)->flags == flag::flagged);
}

TEST_CASE("mbox parsing finds From_ lines across its read chunks", "[mailbox]") {
    // The reader takes the file 1 MiB at a time: put the "\n\nFrom " separator
    // across that boundary at every possible cut.
    for (size_t cut = 0; cut < 7; cut++) {
        mbox_env e;
        std::string head = "From a@b Tue Nov 14 22:13:20 2023\nSubject: big\n\n";
        size_t sep_at = (size_t(1) << 20) - 7 + cut;  // offset of the separator's first '\n'
        std::string body;
        while (head.size() + body.size() + 80 < sep_at) body += std::string(79, 'x') + "\n";
        body += std::string(sep_at - head.size() - body.size(), 'y') + "\n";
        std::string m1 = head + body + "\n";
        REQUIRE(m1.size() == sep_at + 2);
        std::string m2 = "From c@d Tue Nov 14 22:13:21 2023\nSubject: small\n\nhi\n\n";
        REQUIRE(make_dirs(dirname_of(e.inbox)));
        REQUIRE(write_file_atomic(e.inbox, m1 + m2, 0600));
        auto f = e.open("INBOX", open_mode::read_only);
        INFO("cut " << cut);
        REQUIRE(f->count() == 2);
        CHECK(read_msg(*f, 1) == "Subject: big\n\n" + body);
        CHECK(read_msg(*f, 2) == "Subject: small\n\nhi\n");
    }
}
