// map_types.hpp - internal to lib/maps*: factories of the table types that
// live in their own files, and the in-memory table they share.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lib/maps.hpp"

namespace tern::detail {

// cidr: (lib/cidr.cpp) and regexp: (lib/map_regexp.cpp)
std::unique_ptr<lookup_table> make_cidr_table(const std::string& name, const map_options& opts,
                                              std::vector<config_error>& errors);
std::unique_ptr<lookup_table> make_regexp_table(const std::string& name, const map_options& opts,
                                                std::vector<config_error>& errors);

// Keys and values held in memory in file order; keys folded to lower case;
// the first value of a key wins.
class memory_entries {
public:
    bool add(std::string key, std::string value);  // false for a duplicate
    const std::string* find(std::string_view folded_key) const;
    size_t size() const { return _entries.size(); }
    const std::vector<std::pair<std::string, std::string>>& entries() const { return _entries; }
    void swap(memory_entries& o) noexcept {
        _entries.swap(o._entries);
        _index.swap(o._index);
    }

private:
    std::vector<std::pair<std::string, std::string>> _entries;
    std::unordered_map<std::string, size_t> _index;
};

}  // namespace tern::detail
