// store.hpp - one delivery, run in a child process of local-delivery that
// has already become the leaf's user: append to a maildir (or its
// maildir++ spam folder), an mbox or a file, pipe into a command, or queue
// a new message for remote addresses. Each returns an RFC 3463 code and a
// text. Called only by local-delivery/agent.cpp after fork().
// SECURITY: runs with the recipient's (or default_privs', or mail_owner's)
// uid and gid, never as root, except for the creation of a missing spool
// mbox (done before the switch, O_EXCL, owned by the user at once).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "lib/mailbox.hpp"
#include "lib/queue_file.hpp"

namespace tern::local {

struct store_result {
    std::string status = "4.3.0";  // RFC 3463
    std::string text;
};

// The message as stored: trace lines in front of the queued message.
struct message_source {
    int fd = -1;              // the queue file (inherited, read with pread)
    uint64_t offset = 0;      // where the message starts in it
    uint64_t length = 0;
    std::string prefix;       // Return-Path and Delivered-To lines
    uint64_t total() const { return prefix.size() + length; }
    // A reader for lib/mailbox (each call to make_reader starts at the beginning).
    mailbox::message_reader make_reader() const;
};

store_result store_maildir(const std::string& dir, const message_source& src, uint64_t size_limit);
store_result store_mbox(const std::string& path, const std::string& sender, const message_source& src,
                        const mailbox::limits& lim, uint64_t size_limit, bool is_file);

struct command_env {
    std::string command;
    std::string shell = "/bin/sh";
    std::string home, user, sender, recipient, original_recipient, extension, domain, local;
    int time_limit = 1000;  // seconds
};
store_result store_command(const command_env& c, const message_source& src);

// A new queue file for the remote addresses of an expansion (aliases,
// .forward), with "Delivered-To: parent" added in front; wakes the qmgr.
struct forward_job {
    std::string queue_root;   // queue_directory
    int hash_depth = 1;
    std::string parent;       // the address expanded (Delivered-To)
    std::vector<std::string> addresses;
    std::string orcpt;        // the original recipient's ORCPT (or rfc822;parent)
    uint8_t notify = 0;
    envelope original;        // sender, ENVID, RET, BODY, SMTPUTF8 of the message
};
store_result store_forward(const forward_job& j, const message_source& src);

// Map an errno-style failure of a store to a status: no space -> 4.2.2
// (mailbox full, retry), too big -> 5.2.3, permission -> 4.2.1, lock -> 4.2.1...
std::string status_for_errno(int err);

}  // namespace tern::local
