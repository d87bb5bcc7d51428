// bayes_tokenize_fuzz.cpp - libFuzzer target for the classifier's tokeniser
// (lib/bayes_tokenize.cpp over lib/mime) and the message identity. Aborts
// when an invariant breaks: tokens are non-empty, at most
// token_set::max_token_bytes long, well-formed UTF-8 without control
// bytes, distinct, no more than the limit; the same input gives the same
// tokens; a CRLF copy has the same identity.
// Seeds: tests/fuzz/corpus/bayes_tokenize/. Built by tests/fuzz/build.sh
// (`make fuzz`).
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "lib/bayes.hpp"
#include "lib/utf8.hpp"

using namespace tern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    bayes::tokenizer_limits lim;
    lim.max_tokens = 1 + size % 700;
    lim.max_bytes = 1024 + size % 40000;
    bayes::token_set ts(lim.max_tokens, true);
    bayes::tokenize(in, ts, lim);
    if (ts.size() > lim.max_tokens || ts.texts().size() != ts.size() || ts.hashes().size() != ts.size()) abort();
    std::set<std::string_view> seen;
    for (size_t i = 0; i < ts.size(); i++) {
        const std::string& t = ts.texts()[i];
        if (t.empty() || t.size() > bayes::token_set::max_token_bytes || !utf8_valid(t)) abort();
        for (unsigned char c : t)
            if (c < 0x20 || c == 0x7f) abort();
        if (!seen.insert(t).second) abort();
        if (ts.hashes()[i] != bayes::token_hash(t)) abort();
    }
    // deterministic, and the hash-only set agrees
    bayes::token_set again(lim.max_tokens, false);
    bayes::tokenize(in, again, lim);
    if (again.hashes() != ts.hashes()) abort();

    std::string crlf;
    for (size_t i = 0; i < in.size() && i < 8192; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) crlf += '\r';
        crlf += in[i];
    }
    std::string_view head = in.substr(0, std::min<size_t>(in.size(), 8192));
    if (head.find('\r') == std::string_view::npos && bayes::message_id(head) != bayes::message_id(crlf)) abort();
    return 0;
}
