// queue_id.cpp - see queue_id.hpp.
#include "lib/queue_id.hpp"

#include <atomic>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fd.hpp"

namespace tern {
namespace {

constexpr char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr uint64_t id_max = 3656158440062975ULL;  // 36^10 - 1

static_assert(std::atomic_ref<uint64_t>::is_always_lock_free, "the shared ID counter needs lock-free 64-bit atomics");

// The per-process counter: the only one when no shared file is mapped, and
// a floor for the shared one otherwise (used through std::atomic_ref).
alignas(8) uint64_t g_local_last = 0;

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return -1;
}

// last = max(last, v)
void raise_to(std::atomic_ref<uint64_t> last, uint64_t v) {
    uint64_t cur = last.load(std::memory_order_relaxed);
    while (cur < v && !last.compare_exchange_weak(cur, v, std::memory_order_acq_rel)) {
    }
}

// last = max(now, last + 1), returning the new value
uint64_t advance(std::atomic_ref<uint64_t> last) {
    uint64_t now = now_micros();
    uint64_t cur = last.load(std::memory_order_relaxed);
    for (;;) {
        uint64_t next = now > cur ? now : cur + 1;
        if (last.compare_exchange_weak(cur, next, std::memory_order_acq_rel)) return next;
    }
}

}  // namespace

bool valid_queue_id(std::string_view id) {
    if (id.size() != queue_id_length) return false;
    for (char c : id)
        if (digit_value(c) < 0) return false;
    return true;
}

std::string encode_queue_id(uint64_t micros) {
    if (micros > id_max) micros = id_max;
    std::string s(queue_id_length, '0');
    for (size_t i = queue_id_length; i-- > 0;) {
        s[i] = digits[micros % 36];
        micros /= 36;
    }
    return s;
}

std::optional<uint64_t> decode_queue_id(std::string_view id) {
    if (!valid_queue_id(id)) return std::nullopt;
    uint64_t v = 0;
    for (char c : id) v = v * 36 + static_cast<uint64_t>(digit_value(c));
    return v;
}

uint64_t now_micros() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

queue_id_source::queue_id_source(const std::string& seq_path) {
    if (seq_path.empty()) return;
    unique_fd fd(::open(seq_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return;  // e.g. sendmail as an ordinary user: per-process counter
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (st.st_size < static_cast<off_t>(sizeof(uint64_t)) && ::ftruncate(fd.get(), sizeof(uint64_t)) != 0) return;
    void* p = ::mmap(nullptr, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return;
    _shared = static_cast<uint64_t*>(p);
}

queue_id_source::~queue_id_source() {
    if (_shared) ::munmap(_shared, sizeof(uint64_t));
}

uint64_t queue_id_source::next_micros() {
    std::atomic_ref<uint64_t> local(g_local_last);
    uint64_t v;
    if (_shared) {
        std::atomic_ref<uint64_t> shared(*_shared);
        // never below what this process handed out already (the file may
        // have been recreated, or the clock stepped back)
        raise_to(shared, local.load(std::memory_order_acquire));
        v = advance(shared);
    } else {
        v = advance(local);
    }
    raise_to(local, v);
    return v;
}

std::string queue_id_source::next() { return encode_queue_id(next_micros()); }

}  // namespace tern
