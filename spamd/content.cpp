// content.cpp - see content.hpp. The classifier itself (lib/bayes) comes
// from the bayes branch; until this build has it, classify and learn answer
// status=error with the reason, and smtpd accepts the message with
// "X-Spam-Status: unchecked (...)" (fail open).
#include "spamd/content.hpp"

#include "lib/log.hpp"
#include "lib/strutil.hpp"

using namespace tern;

namespace spamd {

bool content_service::init(const config& cfg, std::string&) {
    _size_limit = cfg.get_size("spamd_classify_size_limit");
    return true;
}

attr_limits content_service::limits() const {
    attr_limits lim;
    // the message is one escaped value: up to twice its size on the wire
    lim.max_line = 2 * _size_limit + 4096;
    lim.max_total = 2 * _size_limit + 65536;
    lim.max_count = 10000;  // recipients
    lim.escape = true;
    return lim;
}

attr_list content_service::handle(const attr_list& req) {
    attr_list r;
    std::string what = req.get("request");
    if (what == "ping") return r.add("status", "ok");
    if (what != "classify" && what != "learn") {
        log::warn("content request: unsupported request \"%s\"", printable(what, 60).c_str());
        return r.add("status", "error").add("reason", "unsupported request \"" + printable(what, 60) + "\"");
    }
    const std::string* msg = req.find("message");
    if (!msg) return r.add("status", "error").add("reason", "no message attribute");
    if (msg->size() > _size_limit)
        return r.add("status", "error").add("reason", "message larger than spamd_classify_size_limit");
    if (what == "learn") {
        std::string cls = req.get("class");
        if (cls != "spam" && cls != "ham") return r.add("status", "error").add("reason", "class must be spam or ham");
    }
    return r.add("status", "error").add("reason", "no content classifier in this build");
}

}  // namespace spamd
