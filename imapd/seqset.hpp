// seqset.hpp - IMAP sequence sets ("1,3:5,7:*"), for message sequence
// numbers and UIDs, plus the compact form written back in COPYUID,
// VANISHED and ESEARCH. Pure; used by the FETCH/STORE/SEARCH/COPY commands
// and tested in tests/unit/imap_seqset_test.cpp.
// SECURITY: parses untrusted client text; the number of ranges is bounded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::imap {

struct seq_range {
    uint32_t lo, hi;  // inclusive, lo <= hi after resolve(); 0 stands for "*" before it
    bool operator==(const seq_range&) const = default;
};

class seq_set {
public:
    // "*" is kept symbolic until resolve(). nullopt for bad syntax, zero, or
    // numbers above 2^32-1; max_ranges bounds the work a client can ask for.
    static std::optional<seq_set> parse(std::string_view s, size_t max_ranges = 100000);
    static seq_set of(std::vector<seq_range> r);

    // Replace "*" by star, order every range, sort and merge.
    seq_set resolved(uint32_t star) const;
    bool has_star() const { return _star; }
    const std::vector<seq_range>& ranges() const { return _ranges; }
    bool empty() const { return _ranges.empty(); }
    // Membership (on a resolved set): binary search.
    bool contains(uint32_t v) const;
    // Largest value (resolved set), 0 when empty.
    uint32_t max() const { return _ranges.empty() ? 0 : _ranges.back().hi; }
    uint64_t count() const;

private:
    std::vector<seq_range> _ranges;
    bool _star = false;
};

// Compact text of ascending values: "1:3,7,9:10"; "" when empty.
std::string format_set(const std::vector<uint32_t>& sorted_values);
std::string format_set(const std::vector<seq_range>& ranges);

}  // namespace tern::imap
