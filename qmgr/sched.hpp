// sched.hpp - the qmgr's scheduler bookkeeping, free of I/O so it can be
// unit-tested: per-destination queues of delivery entries with a
// concurrency window (slow start, backing off on failures, "dead" after a
// failed cohort), per-transport limits and suspension when a delivery agent
// is unreachable, round-robin selection among destinations, and the retry
// arithmetic (doubling backoff, queue lifetime). Used by qmgr/active.cpp.
// Times: the scheduler runs on a monotonic clock in milliseconds (now_ms);
// message times (arrival, next try) are UNIX seconds.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tern::qmgr {

// Settings of one transport class (local, virtual, smtp, ...).
struct transport_settings {
    std::string agent;             // socket name under private/ ("local", "smtp")
    int destination_limit = 20;    // <transport>_destination_concurrency_limit
    int initial_concurrency = 5;   // initial_destination_concurrency
    int recipient_limit = 50;      // <transport>_destination_recipient_limit
    int failed_cohort_limit = 1;   // destination_concurrency_failed_cohort_limit
    int transport_limit = 100;     // requests in flight to the agent at once
    int64_t dead_time_ms = 300000; // a dead destination is left alone this long
    int64_t retry_min_ms = 1000;   // first pause after the agent could not be reached
    int64_t retry_max_ms = 60000;  // transport_retry_time
};

// One delivery request's worth of work: some recipients of one message for
// one destination. msg is the active set's handle for the message.
struct entry {
    uint64_t msg = 0;
    std::vector<uint32_t> rcpts;  // recipient indexes in the message's envelope
    std::string transport;        // transport class
    std::string nexthop;
};

// How a finished request went, for the destination's concurrency window.
enum class feedback {
    success,  // the destination answered (delivered, or refused a recipient)
    failure,  // the destination could not be reached or failed as a whole
    neutral,  // says nothing about the destination (e.g. a local mailbox full)
};

// A destination that is dead: the scheduler hands back its queued entries
// so that the caller defers them without trying.
struct deferred_entry {
    entry e;
    std::string reason;  // the failure that killed the destination
    std::string status;  // enhanced status code, 4.x.x
};

struct sched_stats {
    size_t queued = 0;        // entries waiting
    size_t in_flight = 0;     // requests started and not finished
    size_t destinations = 0;  // destinations known
};

class scheduler {
public:
    scheduler() = default;
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;

    // Define (or replace) a transport class. Entries for an undefined class are refused.
    void set_transport(const std::string& name, transport_settings s);
    bool has_transport(const std::string& name) const;
    const transport_settings* transport(const std::string& name) const;

    // Queue recipients of message msg for (transport, nexthop), split into
    // entries of at most the transport's recipient limit. When the
    // destination is dead they go straight to the deferred list. Returns the
    // number of entries made (each later starts, or comes back deferred).
    size_t enqueue(uint64_t msg, const std::string& transport, const std::string& nexthop,
                 std::vector<uint32_t> rcpts, int64_t now_ms);

    // Entries that may start now (up to max), round-robin over destinations
    // with room in their window and their transport. Each returned entry is
    // in flight until finished() or requeue().
    std::vector<entry> start(int64_t now_ms, size_t max = SIZE_MAX);

    // A started entry is done; feedback adjusts the destination window.
    // reason/status describe a failure (used if the destination dies).
    void finished(const entry& e, feedback fb, int64_t now_ms, const std::string& reason = "",
                  const std::string& status = "4.4.1");

    // A started entry could not be handed to the agent (socket missing, agent
    // crashed): put it back first in line and pause the transport.
    void requeue(const entry& e, int64_t now_ms, const std::string& why);

    // Entries given up because their destination is dead (take them all).
    std::vector<deferred_entry> take_deferred();

    // Forget every queued entry of msg (e.g. the file vanished); in-flight
    // entries still finish normally.
    void drop_message(uint64_t msg);

    // postqueue -f: revive dead destinations and paused transports.
    void unthrottle_all();

    // Forget dead destinations whose dead time is over (call now and then).
    void expire(int64_t now_ms);

    // The earliest moment queued work now blocked by a transport pause may
    // start, if any. (Dead destinations hold no queued work.)
    std::optional<int64_t> next_wakeup(int64_t now_ms) const;

    sched_stats stats() const;
    // For tests and logs.
    struct dest_view {
        double window = 0;
        int active = 0;
        size_t queued = 0;
        bool dead = false;
    };
    std::optional<dest_view> destination_state(const std::string& transport, const std::string& nexthop) const;
    bool transport_paused(const std::string& transport, int64_t now_ms) const;
    std::string transport_pause_reason(const std::string& transport) const;

private:
    struct destination {
        std::string transport, nexthop;
        double window = 1;
        int active = 0;
        int failures = 0;          // consecutive failed requests
        bool dead = false;
        int64_t dead_until = 0;
        std::string dead_reason, dead_status;
        std::deque<entry> todo;
        bool in_ready = false;     // listed in its transport's rotation
    };
    struct transport_state {
        transport_settings s;
        int active = 0;
        int64_t paused_until = 0;
        int64_t pause_ms = 0;      // current pause length (doubles)
        std::string pause_reason;
        std::list<destination*> rotation;  // destinations with queued work
    };
    using dest_key = std::pair<std::string, std::string>;

    destination& dest(const std::string& transport, const std::string& nexthop, transport_state& t);
    void revive_if_due(destination& d, const transport_state& t, int64_t now_ms);
    void kill(destination& d, const std::string& reason, const std::string& status, int64_t now_ms);
    void gc(destination& d);

    std::map<std::string, transport_state> _transports;
    std::map<dest_key, std::unique_ptr<destination>> _dests;
    std::vector<deferred_entry> _deferred;
    size_t _queued = 0, _in_flight = 0;
};

// Retry arithmetic ---------------------------------------------------------

// Backoff after the n-th failed attempt (n >= 1): min * 2^(n-1), capped at max.
int64_t backoff_seconds(uint32_t attempts, int64_t min_backoff, int64_t max_backoff);

// Feedback for a request from its per-recipient status codes: every
// recipient 4.4.x (no route, no answer, connection lost) is a failure of the
// destination; any 2.x.x or 5.x.x answer proves the destination works.
feedback classify_feedback(const std::vector<std::string>& statuses);

}  // namespace tern::qmgr
