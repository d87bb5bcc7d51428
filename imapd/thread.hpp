// thread.hpp - RFC 5256 base subjects, SORT criteria and the two THREAD
// algorithms (ORDEREDSUBJECT and REFERENCES). Pure: the caller extracts one
// row per message (dates, addresses, Message-ID, References) and gets back
// the order or the thread tree text. Used by cmd_sort.cpp; tested in
// tests/unit/imap_thread_test.cpp.
// SECURITY: inputs come from message headers; loops in References are
// broken, every walk is iterative or bounded by the message count.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/parser.hpp"

namespace tern::imap {

// RFC 5256 2.1: RFC 2047 decoded, white space collapsed, "Re:", "Fwd:",
// "[blob]" prefixes, "(fwd)" trailers and "[fwd: ...]" wrappers removed,
// case folded. reply_or_forward is set when a Re/Fwd marker was removed.
std::string base_subject(std::string_view raw_value, bool* reply_or_forward = nullptr);

// The Message-IDs ("<...>") in a References or In-Reply-To value, in order.
std::vector<std::string> message_ids(std::string_view value);

struct sort_row {
    uint32_t seq = 0;   // mailbox order (ties)
    uint32_t id = 0;    // what is reported: seq or UID
    int64_t arrival = 0;
    int64_t date = 0;   // sent date (Date:, else arrival)
    uint64_t size = 0;
    std::string cc, from, to;  // first address's mailbox (local part), folded
    std::string subject;       // base subject
};

struct sort_key {
    enum class kind : uint8_t { arrival, cc, date, from, size, subject, to };
    kind type;
    bool reverse = false;
};

// SORT criteria list "(REVERSE DATE SUBJECT)". false with err.
bool parse_sort_criteria(const arg& list, std::vector<sort_key>& out, std::string& err);
// Stable order by the criteria, ties by sequence number; returns ids.
std::vector<uint32_t> sort_rows(std::vector<sort_row> rows, const std::vector<sort_key>& keys);

struct thread_row {
    uint32_t seq = 0;
    uint32_t id = 0;
    int64_t date = 0;          // sent date
    std::string message_id;    // "<...>" or ""
    std::vector<std::string> references;  // References, else In-Reply-To
    std::string subject;       // base subject
    bool reply = false;        // base_subject removed a Re/Fwd
};

// The THREAD response data (after "* THREAD "), "(1 2)(3 (4)(5))".
std::string thread_orderedsubject(const std::vector<thread_row>& rows);
std::string thread_references(const std::vector<thread_row>& rows);

}  // namespace tern::imap
