// seqset.cpp - see seqset.hpp.
#include "imapd/seqset.hpp"

#include <algorithm>

namespace tern::imap {

namespace {
// nz-number or "*" (0)
bool number(std::string_view s, size_t& i, uint32_t& out) {
    if (i < s.size() && s[i] == '*') {
        ++i;
        out = 0;
        return true;
    }
    size_t st = i;
    uint64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        v = v * 10 + uint64_t(s[i] - '0');
        if (v > UINT32_MAX) return false;
        ++i;
    }
    if (i == st || v == 0 || s[st] == '0') return false;
    out = uint32_t(v);
    return true;
}
}  // namespace

std::optional<seq_set> seq_set::parse(std::string_view s, size_t max_ranges) {
    seq_set out;
    size_t i = 0;
    if (s.empty()) return std::nullopt;
    for (;;) {
        uint32_t a = 0, b = 0;
        if (!number(s, i, a)) return std::nullopt;
        b = a;
        if (i < s.size() && s[i] == ':') {
            ++i;
            if (!number(s, i, b)) return std::nullopt;
        }
        if (a == 0 || b == 0) out._star = true;
        if (out._ranges.size() >= max_ranges) return std::nullopt;
        out._ranges.push_back({a, b});
        if (i == s.size()) break;
        if (s[i] != ',') return std::nullopt;
        ++i;
    }
    return out;
}

seq_set seq_set::of(std::vector<seq_range> r) {
    seq_set out;
    out._ranges = std::move(r);
    for (auto& x : out._ranges)
        if (x.lo == 0 || x.hi == 0) out._star = true;
    return out;
}

seq_set seq_set::resolved(uint32_t star) const {
    seq_set out;
    out._ranges.reserve(_ranges.size());
    for (auto r : _ranges) {
        if (r.lo == 0) r.lo = star;
        if (r.hi == 0) r.hi = star;
        if (r.lo > r.hi) std::swap(r.lo, r.hi);
        if (r.hi == 0) continue;  // "*" of an empty mailbox
        if (r.lo == 0) r.lo = 1;
        out._ranges.push_back(r);
    }
    std::sort(out._ranges.begin(), out._ranges.end(), [](const seq_range& x, const seq_range& y) { return x.lo < y.lo; });
    std::vector<seq_range> merged;
    for (auto& r : out._ranges) {
        if (!merged.empty() && uint64_t(r.lo) <= uint64_t(merged.back().hi) + 1)
            merged.back().hi = std::max(merged.back().hi, r.hi);
        else
            merged.push_back(r);
    }
    out._ranges = std::move(merged);
    return out;
}

bool seq_set::contains(uint32_t v) const {
    auto it = std::upper_bound(_ranges.begin(), _ranges.end(), v, [](uint32_t x, const seq_range& r) { return x < r.lo; });
    if (it == _ranges.begin()) return false;
    --it;
    return v >= it->lo && v <= it->hi;
}

uint64_t seq_set::count() const {
    uint64_t n = 0;
    for (auto& r : _ranges) n += uint64_t(r.hi) - r.lo + 1;
    return n;
}

std::string format_set(const std::vector<seq_range>& ranges) {
    std::string out;
    for (auto& r : ranges) {
        if (!out.empty()) out += ',';
        out += std::to_string(r.lo);
        if (r.hi != r.lo) {
            out += ':';
            out += std::to_string(r.hi);
        }
    }
    return out;
}

std::string format_set(const std::vector<uint32_t>& v) {
    std::vector<seq_range> r;
    for (uint32_t x : v) {
        if (!r.empty() && r.back().hi + 1 == x)
            r.back().hi = x;
        else
            r.push_back({x, x});
    }
    return format_set(r);
}

}  // namespace tern::imap
