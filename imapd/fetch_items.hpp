// fetch_items.hpp - the FETCH data items (RFC 3501 6.4.5) and modifiers
// (CHANGEDSINCE, VANISHED of RFC 7162): parsing from command arguments and
// cutting a BODY[section]<partial> out of a message. Pure; used by
// cmd_fetch.cpp and tested in tests/unit/imap_fetch_test.cpp.
// SECURITY: item names, section specs and partial ranges come from the
// client; every number is range-checked, header lists are bounded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/parser.hpp"
#include "lib/mime.hpp"

namespace tern::imap {

struct fetch_section {
    enum class spec : uint8_t { all, header, header_fields, header_fields_not, text, mime };
    std::string label;      // as the response names it: "BODY[1.HEADER]<0>", "RFC822.TEXT"
    std::string part;       // "1.2" or "" (the message itself)
    spec what = spec::all;
    std::vector<std::string> fields;  // HEADER.FIELDS (.NOT) names
    bool peek = false;      // does not set \Seen
    bool partial = false;
    uint64_t offset = 0, length = 0;
};

struct fetch_request {
    bool uid = false, flags = false, internaldate = false, size = false, envelope = false;
    bool body = false, bodystructure = false, modseq = false;
    std::vector<fetch_section> sections;
    std::optional<uint64_t> changedsince;
    bool vanished = false;
    // Does any item set \Seen (a non-PEEK body section)?
    bool sets_seen() const;
    // What the items need from the message: 0 nothing (index only), 1 the
    // header, 2 the whole message.
    int needs() const;
};

// args[pos] is the item (or list or macro); an optional modifier list may
// follow. false with err.
bool parse_fetch(const std::vector<arg>& args, size_t pos, fetch_request& out, std::string& err);

// The bytes of a section of a message in CRLF form (its MIME tree parsed
// from the same bytes), before any <partial> cut: `out` views msg, or
// `built` for HEADER.FIELDS (the matching fields plus the empty line).
// false when the part does not exist or the spec does not apply to it.
bool section_bytes(std::string_view msg, const mime_part& root, const fetch_section& s, std::string& built,
                   std::string_view& out);

}  // namespace tern::imap
