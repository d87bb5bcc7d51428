// local_worker_test.cpp - local-delivery's mailbox workers: the request
// format, and a real worker process (forked here, unprivileged) taking
// several maildir and mbox deliveries over its socket with the queue file
// passed along, answering bad requests with a reason, keeping no other
// descriptor of its parent, and exiting when its socket closes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fd.hpp"
#include "local-delivery/worker.hpp"
#include "mailbox_test_util.hpp"

using namespace tern;
using namespace tern::local;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct running_worker {
    pid_t pid = -1;
    unique_fd sock;
    explicit running_worker(const worker_settings& s = {}) {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        unique_fd mine(sv[0]), theirs(sv[1]);
        pid_t parent = ::getpid();
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) worker_main(std::move(theirs), worker_identity{}, false, parent, s);
        sock = std::move(mine);
    }
    ~running_worker() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    std::string reply() {
        struct pollfd p{sock.get(), POLLIN, 0};
        REQUIRE(::poll(&p, 1, 10000) == 1);
        char buf[4096];
        ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
        REQUIRE(n > 0);
        return std::string(buf, static_cast<size_t>(n));
    }
    int exit_status() {
        int st = -1;
        REQUIRE(::waitpid(pid, &st, 0) == pid);
        pid = -1;
        return st;
    }
};

}  // namespace

TEST_CASE("delivery requests survive encoding, bad ones are refused with a reason", "[local_worker]") {
    delivery_op op;
    op.kind = op_kind::mbox;
    op.dest = "/var/mail/jo";
    op.sender = "a@example.org";
    op.prefix = "Return-Path: <a@example.org>\nDelivered-To: jo@example.test\n";
    op.offset = 1234;
    op.length = 99999999999ull;
    op.note = " folder Junk";
    std::string err;
    auto back = delivery_op::decode(op.encode(), err);
    REQUIRE(back);
    CHECK(back->kind == op_kind::mbox);
    CHECK(back->dest == op.dest);
    CHECK(back->sender == op.sender);
    CHECK(back->prefix == op.prefix);
    CHECK(back->offset == op.offset);
    CHECK(back->length == op.length);
    CHECK(back->note == op.note);

    struct bad_case {
        const char* name;
        const char* value;
        const char* reason;
    } cases[] = {
        {"kind", "pipe", "unknown kind"},
        {"dest", "relative/path", "absolute"},
        {"dest", "", "absolute"},
        {"offset", "-1", "offset"},
        {"length", "12x", "length"},
    };
    for (const auto& c : cases) {
        attr_list a = op.encode();
        for (auto& [n, v] : a.items)
            if (n == c.name) v = c.value;
        std::string why;
        CHECK_FALSE(delivery_op::decode(a, why));
        CHECK(why.find(c.reason) != std::string::npos);
    }
}

TEST_CASE("a worker delivers message after message with the queue file it is given", "[local_worker]") {
    mailbox_test::temp_dir tmp;
    // a queue file: some records, then the message at an offset
    std::string records = "RECORDS BEFORE THE MESSAGE\n";
    std::string message = "From: a@example.org\nSubject: hello\n\nbody line\n";
    std::string qpath = tmp.path + "/queuefile";
    {
        std::ofstream out(qpath, std::ios::binary);
        out << records << message << "TRAILER\n";
    }
    unique_fd qfd(::open(qpath.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(qfd);
    // a descriptor the worker must not keep: after we close our write end
    // the read end sees EOF only if no other process holds it
    int pp[2];
    REQUIRE(::pipe2(pp, O_CLOEXEC) == 0);
    unique_fd pread_end(pp[0]), pwrite_end(pp[1]);

    running_worker w;
    pwrite_end.reset();
    char c;
    REQUIRE(::read(pread_end.get(), &c, 1) == 0);  // EOF: the worker closed its copy

    delivery_op op;
    op.kind = op_kind::maildir;
    op.dest = tmp.path + "/Maildir";
    op.sender = "a@example.org";
    op.prefix = "Return-Path: <a@example.org>\n";
    op.offset = records.size();
    op.length = message.size();
    for (int k = 0; k < 3; ++k) {
        REQUIRE(send_op(w.sock.get(), op, qfd.get()));
        CHECK(w.reply() == "2.0.0 delivered to maildir");
    }
    auto files = mailbox_test::ls(op.dest + "/new");
    REQUIRE(files.size() == 3);
    for (const auto& f : files) CHECK(slurp(op.dest + "/new/" + f) == op.prefix + message);

    op.note = " folder Junk";
    op.dest = tmp.path + "/Maildir/.Junk";
    REQUIRE(send_op(w.sock.get(), op, qfd.get()));
    CHECK(w.reply() == "2.0.0 delivered to maildir folder Junk");
    CHECK(mailbox_test::ls(op.dest + "/new").size() == 1);

    op.kind = op_kind::mbox;
    op.note.clear();
    op.dest = tmp.path + "/mbox";
    REQUIRE(send_op(w.sock.get(), op, qfd.get()));
    CHECK(w.reply() == "2.0.0 delivered to mailbox");
    std::string mbox = slurp(op.dest);
    CHECK(mbox.rfind("From a@example.org ", 0) == 0);
    CHECK(mbox.find("Subject: hello\n\nbody line\n") != std::string::npos);

    // a message that reaches past the end of the queue file: a temporary error
    op.kind = op_kind::maildir;
    op.dest = tmp.path + "/Maildir";
    op.length = 100000;
    REQUIRE(send_op(w.sock.get(), op, qfd.get()));
    std::string r = w.reply();
    CHECK(r.rfind("4.", 0) == 0);
    CHECK(mailbox_test::ls(op.dest + "/new").size() == 3);  // nothing half-written believed

    // a request without the queue file, and garbage: answered, the worker goes on
    std::string text = *attr_encode(op.encode());
    REQUIRE(::send(w.sock.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
    CHECK(w.reply() == "4.3.0 delivery request without its queue file");
    std::string junk = "kind\n\n";
    REQUIRE(::send(w.sock.get(), junk.data(), junk.size(), 0) == static_cast<ssize_t>(junk.size()));
    CHECK(w.reply().rfind("4.3.0 ", 0) == 0);
    op.length = message.size();
    REQUIRE(send_op(w.sock.get(), op, qfd.get()));
    CHECK(w.reply() == "2.0.0 delivered to maildir");

    // closing the socket retires it: a clean exit
    w.sock.reset();
    int st = w.exit_status();
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("a worker keeps to the mailbox size limit it was started with", "[local_worker]") {
    mailbox_test::temp_dir tmp;
    std::string message = "Subject: big\n\n" + std::string(5000, 'x') + "\n";
    std::string qpath = tmp.path + "/q";
    {
        std::ofstream out(qpath, std::ios::binary);
        out << message;
    }
    unique_fd qfd(::open(qpath.c_str(), O_RDONLY | O_CLOEXEC));
    worker_settings s;
    s.mailbox_size_limit = 1000;
    running_worker w(s);
    delivery_op op;
    op.dest = tmp.path + "/Maildir";
    op.length = message.size();
    REQUIRE(send_op(w.sock.get(), op, qfd.get()));
    std::string r = w.reply();
    CHECK(r.rfind("5.2.2 ", 0) == 0);
    CHECK(r.find("size limit") != std::string::npos);
}
