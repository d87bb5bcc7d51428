// queue_commit.hpp - group commit of finished queue files for an event-loop
// daemon (smtpd). commit() hands a finished writer to a small thread pool;
// files that finish at about the same time form one batch: they are renamed
// into incoming/ (still locked by their writer, so nobody reads them yet),
// their fsyncs run in parallel (the file system journal folds them, and the
// renames, into one commit), and the directory is fsynced once for the
// whole batch. Each result comes back on the event loop (through an eventfd)
// only after its file and directory entry are durable; on any error the
// file is removed and the result says why (ENOSPC etc.: answer 452).
// The loop thread owns the callbacks; worker threads never touch them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "lib/event.hpp"
#include "lib/fd.hpp"

namespace tern {

class queue_writer;

struct commit_result {
    std::string id;
    bool ok = false;
    int err = 0;              // errno of the failure
    bool out_of_space = false;  // ENOSPC, EDQUOT, EFBIG
    std::string error;        // reason for logs and the 4xx reply
};

class queue_committer {
public:
    struct options {
        unsigned threads = 4;  // parallel fsyncs per batch (queue_commit_threads)
        // fsync replacement for tests: returns 0 or an errno value.
        std::function<int(int fd)> sync_fn;
    };
    using callback = std::function<void(const commit_result&)>;

    queue_committer(event_loop& loop, options opt);
    explicit queue_committer(event_loop& loop) : queue_committer(loop, options{}) {}
    // Completes the commits already handed over (their callbacks do not run).
    ~queue_committer();
    queue_committer(const queue_committer&) = delete;
    queue_committer& operator=(const queue_committer&) = delete;

    // Finish the writer (on this thread) and commit it. `done` runs later on
    // the loop, never inside commit(). Returns a ticket for cancel().
    uint64_t commit(std::unique_ptr<queue_writer> w, callback done);
    // The callback of this ticket will not run (the commit itself goes on:
    // the file may still end up queued, as when a client disconnects after DATA).
    void cancel(uint64_t ticket);

    size_t in_flight() const { return _callbacks.size(); }
    // Batches made so far (one directory fsync each); for tests and stats.
    uint64_t batches() const;

private:
    struct item {
        uint64_t ticket = 0;
        std::unique_ptr<queue_writer> w;
        commit_result res;
    };
    void batch_loop();
    void helper_loop();
    void sync_jobs(std::unique_lock<std::mutex>& lk);
    void run_batch(std::vector<item>& batch);
    void post_result(item it);
    static void on_wake(int fd, short, void* arg) noexcept;
    void drain_results();

    event_loop& _loop;
    options _opt;
    unique_fd _efd;
    event_ptr _ev;
    uint64_t _next_ticket = 1;
    std::unordered_map<uint64_t, callback> _callbacks;  // loop thread only

    mutable std::mutex _mu;
    std::condition_variable _cv;
    std::deque<item> _pending;       // handed over, not yet in a batch
    std::vector<item> _results;      // done, waiting for the loop
    bool _stop = false;
    uint64_t _batches = 0;

    // parallel fsync of one batch
    std::mutex _job_mu;
    std::condition_variable _job_cv, _job_done_cv;
    std::vector<item>* _job = nullptr;
    uint64_t _job_gen = 0;
    size_t _job_next = 0, _job_finished = 0;
    bool _job_stop = false;

    std::thread _batcher;
    std::vector<std::thread> _helpers;
};

}  // namespace tern
