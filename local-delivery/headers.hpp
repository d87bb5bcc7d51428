// headers.hpp - what local delivery needs from a message's header block:
// the Delivered-To addresses already present (loop detection), whether a
// spam filter flagged it (X-Spam-Flag: YES), and the trace lines it adds
// in front (Return-Path, Delivered-To). Called by local-delivery/deliver.cpp.
// SECURITY: the header block is untrusted; it is scanned line by line with
// a bound on what is kept, and nothing from it reaches a path or a command.
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace tern::local {

struct header_facts {
    std::set<std::string> delivered_to;  // lower-cased addresses, without <>
    bool spam = false;                   // X-Spam-Flag: YES
    bool truncated = false;              // more Delivered-To lines than kept
};

// Scan a header block (LF or CRLF line ends, folded lines allowed); stops at
// the first empty line. At most max_delivered_to addresses are kept.
header_facts scan_headers(std::string_view header, size_t max_delivered_to = 1000);

// "Return-Path: <sender>\nDelivered-To: address\n" (the null sender is <>).
std::string trace_headers(std::string_view sender, std::string_view delivered_to);

}  // namespace tern::local
