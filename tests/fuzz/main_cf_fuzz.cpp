// main_cf_fuzz.cpp - libFuzzer target: main.cf parsing, validation and
// $name expansion of every value (bounded recursion).
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    tern::config c;
    std::vector<tern::config_error> errs;
    c.parse(text, "main.cf", errs);
    c.validate(errs);
    (void)c.unknown_names();
    for (const auto& n : c.explicit_names()) {
        (void)c.get(n);
        (void)c.get_list(n);
        (void)c.get_time(n);
        (void)c.get_size(n);
    }
    return 0;
}
