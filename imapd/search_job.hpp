// search_job.hpp - running a SEARCH program over the selected mailbox as
// a job (shared by SEARCH, SORT and THREAD): index-only keys are decided
// for thousands of messages per step, keys that need the message read a
// bounded number of messages per step, so a text search of a large
// folder never holds the event loop for long.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imapd/search.hpp"
#include "imapd/session.hpp"

namespace tern::imap {

struct search_job {
    command c;  // tag, name, uid
    search_program prog;
    bool needs_message = false;
    bool header_only = true;  // no BODY/TEXT key: the header is enough
    size_t next = 0;          // sequence index
    std::vector<uint32_t> matches;  // UIDs in sequence order
    uint64_t max_modseq = 0;
};

// Parses "[CHARSET x] keys" from c.args[pos]; on failure the tagged reply
// is already sent and false returned.
bool prepare_search(session& s, command& c, size_t pos, bool charset_given, const std::string& charset,
                    search_job& j);
// One step; true when every message has been looked at.
bool search_step(session& s, search_job& j);

}  // namespace tern::imap
