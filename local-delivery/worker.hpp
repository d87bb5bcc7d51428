// worker.hpp - long-lived delivery processes of local-delivery. Mailbox and
// file deliveries (maildir, maildir++ spam folder, mbox, /file targets) run
// in a worker that has become one uid/gid (plus, for a group-writable mail
// spool, that group) for good and takes delivery after delivery for that
// identity, instead of a fork per delivery: a fork of the root agent is
// most of the CPU a delivery costs. Commands and forwards keep their own
// process per delivery (agent.cpp).
// Protocol over a SOCK_SEQPACKET socketpair, one request and one reply in
// flight: the agent sends a delivery_op (attr list) with the queue file's
// descriptor attached (SCM_RIGHTS, read-only, read with pread); the worker
// answers "STATUS TEXT". The worker exits when its socket closes (the
// agent retires idle and worn workers) and dies with the agent
// (PR_SET_PDEATHSIG).
// Called by local-delivery/agent.cpp.
// SECURITY: a worker drops to its identity before reading any request and
// can never regain root; it keeps only its own socket (every other
// inherited descriptor is closed), so it can neither answer for another
// worker nor read another user's queue files. Requests come only from the
// agent; their sizes are bounded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>

#include "lib/attr.hpp"
#include "lib/fd.hpp"
#include "lib/mailbox.hpp"

namespace tern::local {

// Who a worker runs as. extra_gid: a supplementary group or -1.
struct worker_identity {
    uid_t uid = 0;
    gid_t gid = 0;
    gid_t extra_gid = static_cast<gid_t>(-1);
    auto operator<=>(const worker_identity&) const = default;
};

enum class op_kind { maildir, mbox, file };

// One delivery a worker performs.
struct delivery_op {
    op_kind kind = op_kind::maildir;
    std::string dest;     // maildir directory (no trailing '/'), mbox or file path
    std::string sender;   // for the mbox From_ line
    std::string prefix;   // Return-Path and Delivered-To lines
    uint64_t offset = 0;  // of the message in the queue file
    uint64_t length = 0;
    std::string note;     // appended to the success text (" folder Junk")

    attr_list encode() const;
    static std::optional<delivery_op> decode(const attr_list& a, std::string& err);
};

// What a worker inherits from the agent (fixed for its life).
struct worker_settings {
    uint64_t mailbox_size_limit = 0;
    mailbox::limits mbox_limits;
};

// Largest request or reply datagram.
constexpr size_t worker_message_limit = 64 * 1024;

// Send one request with the queue file descriptor; false with errno set.
bool send_op(int sock, const delivery_op& op, int queue_fd);

// The child side after fork(): become `who` (when `privileged`), close
// every inherited descriptor but `sock`, serve requests until EOF.
[[noreturn]] void worker_main(unique_fd sock, const worker_identity& who, bool privileged, pid_t parent,
                              const worker_settings& s);

// Become uid/gid for good (used by workers and by per-delivery children).
bool become(uid_t uid, gid_t gid, gid_t extra_gid, std::string& err);

}  // namespace tern::local
