// mailbox_index.hpp - the persistent per-folder index of the mail store: a
// snapshot file (BASE) replaced by atomic rename plus an append-only change
// log (BASE.log), written under BASE.lock. Readers never lock: they reload
// the snapshot when its inode changes and read only new complete log lines.
// Used by the folder classes of lib/mailbox_*.cpp; format in docs/mailbox.md.
// SECURITY: the files may be damaged; every line is parsed with bounds and a
// bad line makes the index "corrupt" (rebuilt), never a crash.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/fd.hpp"
#include "lib/mailbox.hpp"

namespace tern::mailbox {

struct index_entry {
    message msg;
    // Where the message lives. maildir: 'n' = new/NAME, 'c' = cur/NAME:2,FLAGS
    // (canonical flag letters), 'C' = cur/NAME exactly; mbox: 'm' = [offset, offset+raw_len).
    char loc = 'c';
    std::string name;
    uint64_t offset = 0, raw_len = 0, fp = 0;
};

class folder_index {
public:
    // create_dir: the lock may create the index's directory (mbox index
    // directories); a maildir folder whose directory is gone stays gone.
    folder_index(std::string base, const limits& lim, bool create_dir);
    ~folder_index();
    const std::string& base() const { return _base; }

    // State; change it only through the mutators below (they log).
    uint32_t uidvalidity = 0, uidnext = 1, first_recent = 1;
    uint64_t highestmodseq = 1, vanished_floor = 0;
    bool dirty = false;        // mbox: flags in the index not yet written to the file
    uint64_t scan[4] = {0, 0, 0, 0};  // store-specific view of the files at the last scan
    std::vector<std::string> keywords;
    std::deque<std::pair<uint32_t, uint64_t>> vanished;  // (uid, modseq) ascending by modseq
    std::vector<index_entry> entries;  // ascending by uid

    bool loaded() const { return _loaded; }
    index_entry* find(uint32_t uid);
    const index_entry* find(uint32_t uid) const;

    // Pick up changes of other writers. ENOENT: there is no index; EBADMSG: corrupt.
    status refresh();
    // Changes seen by refresh() and by mutators called with report=true since the last take.
    changes take_changes();

    // Writers: lock, refresh, mutate, commit, unlock.
    status lock(int timeout);
    void unlock();
    bool locked() const { return bool(_lock_fd); }
    uint64_t txn_modseq();  // modseq of this transaction's changes (assigned on first use)
    uint32_t add(index_entry e, bool report);  // assigns uid (uidnext) and modseq
    void set_flags(uint32_t uid, uint32_t flags, uint32_t keywords, bool report);
    void set_location(uint32_t uid, char loc, const std::string& name);
    void expunge(uint32_t uid, bool report);
    int add_keyword(const std::string& name);
    void set_first_recent(uint32_t uid);
    void set_scan(const uint64_t (&s)[4]);
    void set_dirty(bool on);
    // Start over with a new UIDVALIDITY (rebuild); commit() writes a snapshot.
    void reset(uint32_t new_uidvalidity);
    // Entries changed without log records (mbox offsets): commit() writes a snapshot.
    void force_snapshot() { _need_snapshot = true; }
    status commit();
    // Drop the in-memory state so the next refresh() reloads from disk
    // (after a failed commit the disk is the truth).
    void invalidate();

    // A UIDVALIDITY for a new index: the time, above any previous value.
    static uint32_t new_uidvalidity(uint32_t previous);
    // The last UIDVALIDITY known: loaded, or read from a damaged snapshot.
    uint32_t previous_uidvalidity() const { return std::max(uidvalidity, _salvaged_uidvalidity); }

private:
    status load_full();
    status read_log(bool from_start);
    bool apply_line(std::string_view line, bool report);
    void emit(const std::string& line, bool report);
    status write_snapshot();
    std::string snapshot_text() const;
    void diff_report(const std::vector<index_entry>& old_entries);
    void erase_pending();
    void reset_log_state();

    std::string _base;
    limits _lim;
    bool _create_dir;
    bool _loaded = false;
    uint64_t _gen = 0;
    uint64_t _max_gen_seen = 0;
    uint32_t _salvaged_uidvalidity = 0;
    // The snapshot we loaded stays open: while we hold it, its inode number
    // cannot be reused by a later snapshot, so an inode change is reliable.
    unique_fd _snap_fd;
    ino_t _snap_ino = 0;
    uint64_t _snap_size = 0;
    unique_fd _log_fd;
    ino_t _log_ino = 0;
    uint64_t _log_off = 0;
    bool _log_stale = false;  // log belongs to an older snapshot
    unique_fd _lock_fd;
    uint64_t _txn_modseq = 0;
    bool _need_snapshot = false;
    std::string _pending;
    size_t _tombstones = 0;  // expunged entries (loc 'X') not yet removed from entries
    changes _changes;
};

// Escaping of names in index lines: bytes <= ' ', '%' and DEL as %XX.
std::string index_escape(std::string_view s);
bool index_unescape(std::string_view s, std::string& out);

}  // namespace tern::mailbox
