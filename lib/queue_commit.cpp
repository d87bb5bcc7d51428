// queue_commit.cpp - see queue_commit.hpp.
#include "lib/queue_commit.hpp"

#include <cerrno>
#include <event2/event.h>
#include <iterator>
#include <map>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/queue_writer.hpp"

namespace tern {

queue_committer::queue_committer(event_loop& loop, options opt) : _loop(loop), _opt(std::move(opt)) {
    _efd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!_efd) log::fatal("queue committer: eventfd: %s", errno_text().c_str());
    _ev.reset(event_new(loop.base(), _efd.get(), EV_READ | EV_PERSIST, &queue_committer::on_wake, this));
    if (!_ev) log::fatal("queue committer: event_new failed");
    event_add(_ev.get(), nullptr);
    unsigned n = _opt.threads ? _opt.threads : 1;
    _batcher = std::thread([this] { batch_loop(); });
    for (unsigned i = 1; i < n; ++i) _helpers.emplace_back([this] { helper_loop(); });
}

queue_committer::~queue_committer() {
    {
        std::lock_guard<std::mutex> lk(_mu);
        _stop = true;
    }
    _cv.notify_all();
    if (_batcher.joinable()) _batcher.join();  // finishes what was handed over
    {
        std::lock_guard<std::mutex> lk(_job_mu);
        _job_stop = true;
    }
    _job_cv.notify_all();
    for (auto& t : _helpers) t.join();
    _ev.reset();
}

uint64_t queue_committer::commit(std::unique_ptr<queue_writer> w, callback done) {
    uint64_t ticket = _next_ticket++;
    _callbacks.emplace(ticket, std::move(done));
    item it;
    it.ticket = ticket;
    if (!w) {
        it.res.err = EINVAL;
        it.res.error = "no queue file";
        post_result(std::move(it));
        return ticket;
    }
    it.res.id = w->id();
    if (!w->finish()) {
        it.res.err = w->error_number();
        it.res.out_of_space = w->out_of_space();
        it.res.error = w->error();
        w->abort();
        post_result(std::move(it));
        return ticket;
    }
    it.w = std::move(w);
    {
        std::lock_guard<std::mutex> lk(_mu);
        _pending.push_back(std::move(it));
    }
    _cv.notify_one();
    return ticket;
}

void queue_committer::cancel(uint64_t ticket) { _callbacks.erase(ticket); }

uint64_t queue_committer::batches() const {
    std::lock_guard<std::mutex> lk(_mu);
    return _batches;
}

void queue_committer::post_result(item it) {
    it.w.reset();
    {
        std::lock_guard<std::mutex> lk(_mu);
        _results.push_back(std::move(it));
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(_efd.get(), &one, sizeof one);  // EAGAIN: already signalled
}

void queue_committer::batch_loop() {
    for (;;) {
        std::vector<item> batch;
        {
            std::unique_lock<std::mutex> lk(_mu);
            _cv.wait(lk, [this] { return _stop || !_pending.empty(); });
            if (_pending.empty()) return;  // stopping, nothing left
            batch.assign(std::make_move_iterator(_pending.begin()), std::make_move_iterator(_pending.end()));
            _pending.clear();
        }
        run_batch(batch);
        {
            std::lock_guard<std::mutex> lk(_mu);
            ++_batches;
            for (auto& it : batch) _results.push_back(std::move(it));
        }
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(_efd.get(), &one, sizeof one);
    }
}

// Take fsync jobs of the current batch until none is left. Called with
// _job_mu held; drops it around each fsync.
void queue_committer::sync_jobs(std::unique_lock<std::mutex>& lk) {
    while (_job && _job_next < _job->size()) {
        auto& it = (*_job)[_job_next++];
        lk.unlock();
        if (!it.res.err) {  // a failed rename needs no fsync
            int fd = it.w->fd();
            int e = _opt.sync_fn ? _opt.sync_fn(fd) : (::fsync(fd) == 0 ? 0 : errno);
            if (e) {
                it.res.err = e;
                it.res.error = "fsync " + it.w->final_path() + ": " + errno_text(e);
            }
        }
        lk.lock();
        if (++_job_finished == _job->size()) _job_done_cv.notify_all();
    }
}

void queue_committer::helper_loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(_job_mu);
    for (;;) {
        _job_cv.wait(lk, [&] { return _job_stop || (_job && _job_gen != seen); });
        if (_job_stop) return;
        seen = _job_gen;
        sync_jobs(lk);
    }
}

void queue_committer::run_batch(std::vector<item>& batch) {
    // 1. rename every file into its final directory. It is visible there
    //    before it is durable, but still locked by its writer (the lock goes
    //    with the fd in step 4), so no reader works on it yet: the qmgr
    //    skips locked files and looks again; a crash before step 3 leaves
    //    at most an unacknowledged file the reader rejects as incomplete.
    //    Renaming first lets one journal commit (step 2's fsyncs, run
    //    together) carry the data and the directory entries, so step 3
    //    normally finds nothing left to write: one commit per batch, not two.
    for (auto& it : batch) {
        if (int e = it.w->link_final()) {
            it.res.err = e;
            it.res.error = "rename " + it.w->temp_path() + " to " + it.w->final_path() + ": " + errno_text(e);
        }
    }
    // 2. make every file's data durable, in parallel
    {
        std::unique_lock<std::mutex> lk(_job_mu);
        _job = &batch;
        _job_next = 0;
        _job_finished = 0;
        ++_job_gen;
        if (batch.size() > 1) _job_cv.notify_all();
        sync_jobs(lk);
        _job_done_cv.wait(lk, [&] { return _job_finished == batch.size(); });
        _job = nullptr;
    }
    // 3. one directory fsync per final directory covers the whole batch
    std::map<std::string, int> dir_err;
    for (auto& it : batch) {
        if (it.res.err) continue;
        std::string d = dirname_of(it.w->final_path());
        auto f = dir_err.find(d);
        if (f == dir_err.end()) f = dir_err.emplace(d, it.w->sync_final_dir()).first;
        if (f->second) {
            it.res.err = f->second;
            it.res.error = "fsync " + d + ": " + errno_text(f->second);
        }
    }
    // 4. settle: commit the good ones (unlocking them), remove the rest
    for (auto& it : batch) {
        if (it.res.err) {
            it.w->fail(it.res.err, it.res.error);
            it.res.out_of_space = it.w->out_of_space();
            it.w->abort();  // unlinks the final name too when it was renamed
        } else {
            it.w->mark_committed();
            it.res.ok = true;
        }
        it.w.reset();
    }
}

void queue_committer::on_wake(int, short, void* arg) noexcept {
    auto self = static_cast<queue_committer*>(arg);
    guard("queue commit", [self] { self->drain_results(); });
}

void queue_committer::drain_results() {
    uint64_t v;
    [[maybe_unused]] ssize_t n = ::read(_efd.get(), &v, sizeof v);
    std::vector<item> done;
    {
        std::lock_guard<std::mutex> lk(_mu);
        done.swap(_results);
    }
    for (auto& it : done) {
        auto f = _callbacks.find(it.ticket);
        if (f == _callbacks.end()) continue;  // cancelled
        auto cb = std::move(f->second);
        _callbacks.erase(f);
        if (cb) cb(it.res);
    }
}

}  // namespace tern
