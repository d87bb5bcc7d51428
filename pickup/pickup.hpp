// pickup.hpp - moving local submissions from maildrop/ into the queue:
// each maildrop file (a queue file written by sendmail or postsuper -r) is
// read, given the same header cleanup as SMTP submissions (Received "from
// userid N", and Message-ID, Date and From when missing), written as a new
// queue file into incoming/ (fsynced), and only then removed.
// Called by pickup's main.cpp at start, on its timer and when sendmail
// wakes it through public/pickup.
// SECURITY: maildrop files come from local users. Only the sender, the
// recipients with their DSN data, ENVID/RET/BODY/SMTPUTF8 and the full name
// are taken from them; the submitter is the file's owner as the kernel
// reports it, never what the file claims. A file that does not parse is
// moved to corrupt/.
#pragma once

#include <cstddef>
#include <string>

#include "lib/config.hpp"
#include "lib/queue_dir.hpp"

namespace tern::pickup {

struct settings {
    std::string myhostname, myorigin, mail_name;
    uint64_t message_size_limit = 0, header_size_limit = 102400;
    int hopcount_limit = 50;
};

settings load_settings(const config& cfg);

// Process every complete file in maildrop/. Returns how many messages were
// queued (the caller wakes the qmgr when that is not zero).
size_t scan_maildrop(const queue_dir& q, const settings& s);

// One file; true when it left maildrop/ (queued or moved to corrupt/).
bool pickup_file(const queue_dir& q, const settings& s, const std::string& id, bool& queued);

}  // namespace tern::pickup
