// master_cf_fuzz.cpp - libFuzzer target: master.cf parsing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/master_cf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<tern::config_error> errs;
    auto s = tern::parse_master_cf(text, "master.cf", errs);
    for (const auto& e : s) {
        (void)e.host();
        (void)e.port();
    }
    return 0;
}
