// content.cpp - see content.hpp. classify: the message against the global
// token database plus, for a single recipient, that recipient's; an
// X-Spam-DNSBL score nudges the result (dnsbl_score_weight per point);
// headers X-Spam-Status, X-Spam-Score and (for spam) X-Spam-Flag: YES; at
// spamd_reject_threshold the action is REJECT. learn: one message into a
// user's (or the global) database.
#include "spamd/content.hpp"

#include <cstdio>
#include <cstdlib>

#include "lib/log.hpp"
#include "lib/strutil.hpp"

using namespace tern;

namespace spamd {

namespace {

std::optional<double> parse_number(const std::string& s) {
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (!end || *end != 0 || v != v) return std::nullopt;
    return v;
}

std::string fmt_score(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", v);
    return b;
}

}  // namespace

int dnsbl_score_of(std::string_view m) {
    size_t pos = 0;
    while (pos < m.size() && pos < 65536) {
        size_t nl = m.find('\n', pos);
        std::string_view line = m.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (line.empty() || line == "\r") break;  // end of the header
        if (istarts_with(line, "X-Spam-DNSBL:")) {
            auto at = line.find("score=");
            if (at == std::string_view::npos) return 0;
            std::string_view digits = line.substr(at + 6);
            size_t n = 0;
            while (n < digits.size() && n < 8 && (std::isdigit(static_cast<unsigned char>(digits[n])) || (n == 0 && digits[n] == '-'))) ++n;
            auto v = parse_i64(digits.substr(0, n));
            return v && *v > 0 ? static_cast<int>(*v) : 0;
        }
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    return 0;
}

bool content_service::init(const config& cfg, event_loop& loop, std::string& err) {
    _size_limit = cfg.get_size("spamd_classify_size_limit");
    _delimiter = cfg.get("recipient_delimiter");
    std::string r = cfg.get("spamd_reject_threshold");
    if (!r.empty()) {
        _reject = parse_number(r);
        if (!_reject || *_reject < 0 || *_reject > 1) {
            err = "spamd_reject_threshold = " + r + ": expected a number from 0 to 1 (or nothing)";
            return false;
        }
    }
    auto w = parse_number(cfg.get("dnsbl_score_weight"));
    if (!w || *w < 0 || *w > 1) {
        err = "dnsbl_score_weight = " + cfg.get("dnsbl_score_weight") + ": expected a number from 0 to 1";
        return false;
    }
    _dnsbl_weight = *w;
    bayes::settings s;
    if (!bayes::settings::from_config(cfg, s, err)) return false;
    _classifier = std::make_unique<bayes::classifier>(s);
    _pool = std::make_unique<worker_pool>(loop, static_cast<unsigned>(cfg.get_int("spamd_content_threads")));
    return true;
}

void content_service::stop() {
    _pool.reset();  // finishes the work in hand
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

// "Alice+tag@Example.TEST" -> "alice@example.test": the name a user's token
// database is kept under (imapd trains with the login's canonical address).
std::string content_service::user_of(const std::string& address) const {
    std::string a = to_lower(address);
    auto at = a.rfind('@');
    if (at == std::string::npos) return a;
    std::string local = a.substr(0, at), domain = a.substr(at);
    if (!_delimiter.empty()) {
        auto d = local.find_first_of(_delimiter);
        if (d != std::string::npos && d > 0) local.resize(d);
    }
    return local + domain;
}

void content_service::handle(const attr_list& req, attr_responder respond) {
    attr_list r;
    std::string what = req.get("request");
    if (what == "ping") {
        respond(r.add("status", "ok"));
        return;
    }
    if (what != "classify" && what != "learn") {
        log::warn("content request: unsupported request \"%s\"", printable(what, 60).c_str());
        respond(r.add("status", "error").add("reason", "unsupported request \"" + printable(what, 60) + "\""));
        return;
    }
    const std::string* msg = req.find("message");
    if (!msg) {
        respond(r.add("status", "error").add("reason", "no message attribute"));
        return;
    }
    if (msg->size() > _size_limit) {
        respond(r.add("status", "error").add("reason", "message larger than spamd_classify_size_limit"));
        return;
    }
    if (!_classifier || !_pool) {
        respond(r.add("status", "error").add("reason", "spamd is stopping"));
        return;
    }
    if (what == "classify") classify(req, std::move(respond));
    else learn(req, std::move(respond));
}

void content_service::classify(const attr_list& req, attr_responder respond) {
    auto rcpts = req.all("rcpt");
    std::string user = rcpts.size() == 1 ? user_of(rcpts[0]) : std::string();
    std::string id = req.get("queue_id", "NOQUEUE");
    struct job {
        std::string msg, user, err;
        bayes::classification c;
        bool ok = false;
    };
    auto j = std::make_shared<job>();
    j->msg = req.get("message");
    j->user = user;
    bayes::classifier* cl = _classifier.get();
    _pool->submit([cl, j] { j->ok = cl->classify(j->msg, j->user, j->c, j->err); },
                  [this, j, id, respond] {
                      attr_list r;
                      if (!j->ok) {
                          log::warn("%s: classify: %s", printable(id, 40).c_str(), j->err.c_str());
                          respond(r.add("status", "error").add("reason", "classifier: " + j->err));
                          return;
                      }
                      double score = j->c.score;
                      int dnsbl = dnsbl_score_of(j->msg);
                      if (dnsbl > 0) score = std::min(1.0, score + dnsbl * _dnsbl_weight);
                      auto v = bayes::verdict_for(score, _classifier->config().score);
                      bool spam = v == bayes::verdict::spam;
                      std::string s = fmt_score(score);
                      std::string status = std::string(spam ? "Yes" : "No") + ", score=" + s +
                                           " verdict=" + bayes::verdict_name(v) +
                                           " tokens=" + std::to_string(j->c.used) + "/" + std::to_string(j->c.tokens);
                      if (dnsbl > 0) status += " dnsbl=" + std::to_string(dnsbl);
                      std::string action = "DUNNO";
                      if (_reject && score >= *_reject) action = "REJECT Message content rejected as spam";
                      r.add("status", "ok").add("verdict", bayes::verdict_name(v)).add("score", s).add("action", action);
                      r.add("header", "X-Spam-Status: " + status);
                      r.add("header", "X-Spam-Score: " + s);
                      if (spam) r.add("header", "X-Spam-Flag: YES");
                      log::info("%s: classify: user=%s, score=%s, verdict=%s, tokens=%zu/%zu%s, action=%s",
                                printable(id, 40).c_str(), j->user.empty() ? "(global)" : j->user.c_str(), s.c_str(),
                                bayes::verdict_name(v), j->c.used, j->c.tokens,
                                dnsbl > 0 ? (", dnsbl=" + std::to_string(dnsbl)).c_str() : "", action.c_str());
                      respond(r);
                  });
}

void content_service::learn(const attr_list& req, attr_responder respond) {
    std::string cls = req.get("class");
    if (cls != "spam" && cls != "ham") {
        respond(attr_list().add("status", "error").add("reason", "class must be spam or ham"));
        return;
    }
    struct job {
        std::string msg, user, err;
        bayes::message_class c = bayes::message_class::spam;
        bayes::learn_outcome o = bayes::learn_outcome::learned;
        bool ok = false;
    };
    auto j = std::make_shared<job>();
    j->msg = req.get("message");
    j->user = req.get("user").empty() ? std::string() : user_of(req.get("user"));
    j->c = cls == "spam" ? bayes::message_class::spam : bayes::message_class::ham;
    bayes::classifier* cl = _classifier.get();
    _pool->submit([cl, j] { j->ok = cl->learn(j->msg, j->user, j->c, j->o, j->err); },
                  [j, cls, respond] {
                      attr_list r;
                      if (!j->ok) {
                          log::warn("learn %s for %s: %s", cls.c_str(), j->user.empty() ? "(global)" : j->user.c_str(),
                                    j->err.c_str());
                          respond(r.add("status", "error").add("reason", j->err));
                          return;
                      }
                      log::info("learn: %s for %s: %s", cls.c_str(), j->user.empty() ? "(global)" : j->user.c_str(),
                                bayes::outcome_name(j->o));
                      respond(r.add("status", "ok").add("outcome", bayes::outcome_name(j->o)));
                  });
}

}  // namespace spamd
