// mailbox.hpp - the one mail store shared by local-delivery, pop3d and imapd:
// maildir, maildir++ folders and mbox files, each folder with a persistent
// index (UIDVALIDITY, UIDs, flags, modseqs) so every session sees stable
// identities. Formats, locking and crash safety: docs/mailbox.md.
// SECURITY: folder names and keywords come from IMAP clients and are checked
// by normalize_folder_name()/valid_keyword() before they reach a path or a
// file; message bytes and foreign mbox files are parsed with bounds only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "lib/fd.hpp"

namespace tern {
class config;
}

namespace tern::mailbox {

class folder_index;
struct index_entry;

// Result of an operation. err is an errno value: ENOENT (no such folder or
// message), EEXIST, EINVAL (bad name or argument), EAGAIN (lock busy or
// timed out), ENOSPC/EDQUOT/EFBIG (out of space), EIO/EBADMSG (broken file),
// ENOTSUP (not possible with this store), EROFS (folder opened read-only).
struct status {
    int err = 0;
    std::string reason;
    explicit operator bool() const noexcept { return err == 0; }
    static status ok() { return {}; }
    static status fail(int err, std::string reason) { return {err, std::move(reason)}; }
    // "reason: strerror(errno)" with err taken from errno.
    static status from_errno(std::string what);
};

// Settings (main.cf rows in lib/params_access.cpp).
struct limits {
    int lock_timeout = 30;                 // mailbox_lock_timeout, seconds
    int stale_lock_time = 500;             // stale_lock_time, seconds (mbox dotlocks)
    uint64_t index_log_limit = 1u << 20;   // mailbox_index_log_limit, bytes
    uint64_t index_size_limit = 512u << 20;  // mailbox_index_size_limit, bytes
    size_t vanished_limit = 50000;         // mailbox_vanished_limit, expunges remembered
    size_t folder_limit = 10000;           // mailbox_folder_limit, folders per store
    bool fsync = true;                     // mailbox_fsync
    static limits from_config(const config& cfg);
};

// System flags (bits of message::flags). passed is maildir's 'P', kept but not an IMAP flag.
namespace flag {
constexpr uint32_t seen = 1, answered = 2, flagged = 4, deleted = 8, draft = 16, passed = 32;
constexpr uint32_t imap_mask = seen | answered | flagged | deleted | draft;
constexpr uint32_t all = imap_mask | passed;
}  // namespace flag
// "\Seen" -> flag::seen (case-insensitive); nullopt for keywords and \Recent.
std::optional<uint32_t> parse_system_flag(std::string_view name);
// IMAP names of the set bits in a fixed order ("\Seen \Answered ...").
std::vector<std::string> system_flag_names(uint32_t flags);
// A keyword that can be stored: 1..100 IMAP atom characters, no backslash.
bool valid_keyword(std::string_view name);
constexpr int max_keywords = 26;  // maildir stores keywords as letters a..z

// ---------------------------------------------------------------- delivery
// A message source: fills buf, returns bytes read, 0 at the end, -1 with errno.
using message_reader = std::function<ssize_t(char* buf, size_t len)>;

struct delivered {
    std::string path;    // file written (maildir) or mbox path
    uint64_t size = 0;   // bytes of the message as stored (LF line ends)
    uint64_t wire_size = 0;  // bytes with CRLF line ends
};

// Deliver into a maildir (or maildir++ folder) directory: tmp/, fsync, link
// into new/ (cur/ with ":2,FLAGS" when flags are given), fsync the directory.
// Creates the directory, tmp/new/cur and the maildirfolder marker as needed.
status deliver_maildir(const std::string& dir, std::string_view message, uint32_t flags,
                       delivered* out = nullptr);
status deliver_maildir(const std::string& dir, const message_reader& reader, uint32_t flags,
                       delivered* out = nullptr);
// Append to an mbox file under fcntl + dotlock locking, From_ line and >From
// quoting; on any failure the file is truncated back to its old size. The
// caller should ignore SIGXFSZ so that a file size limit reports EFBIG.
status deliver_mbox(const std::string& path, std::string_view sender, std::string_view message,
                    const limits& lim, delivered* out = nullptr);
status deliver_mbox(const std::string& path, std::string_view sender, const message_reader& reader,
                    const limits& lim, delivered* out = nullptr);

// Bytes on the wire: every LF not preceded by CR becomes CRLF.
uint64_t wire_size_of(std::string_view data);

// ---------------------------------------------------------------- folders
struct message {
    uint32_t uid = 0;
    uint32_t flags = 0;     // flag:: bits
    uint32_t keywords = 0;  // bit i = folder::keywords()[i]
    uint64_t modseq = 0;
    uint64_t size = 0;       // as stored, LF line ends
    uint64_t wire_size = 0;  // with CRLF line ends (POP3 LIST, RFC822.SIZE)
    int64_t internal_date = 0;  // delivery time, seconds since the epoch
};

// What a sync() found that this folder object did not do itself.
struct changes {
    std::vector<uint32_t> added;          // new UIDs, ascending
    std::vector<uint32_t> flags_changed;  // existing UIDs with new flags/modseq, ascending
    std::vector<uint32_t> expunged;       // UIDs gone, ascending
    bool uidvalidity_changed = false;     // the index was rebuilt: every UID changed
    bool keywords_changed = false;        // keywords() grew (IMAP: send FLAGS again)
    bool empty() const {
        return added.empty() && flags_changed.empty() && expunged.empty() && !uidvalidity_changed &&
               !keywords_changed;
    }
};

enum class flag_op { add, remove, replace };

struct flag_update {
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags;
    uint32_t keywords;
};

struct store_result {
    std::vector<flag_update> updated;     // messages whose flags changed (new modseq)
    std::vector<uint32_t> modified;       // failed UNCHANGEDSINCE: modseq was higher
};

struct uid_range {
    uint32_t first, last;
    bool operator==(const uid_range&) const = default;
};

struct folder_counts {
    uint32_t messages = 0, recent = 0, unseen = 0;
    uint64_t size = 0, wire_size = 0;
};

enum class open_mode {
    read_only,   // EXAMINE, STATUS: no flag changes, no \Recent claimed
    read_write,  // writes allowed, \Recent left for others (COPY/APPEND targets, POP3)
    select,      // read_write and claims \Recent (maildir: moves new/ to cur/)
};

class folder {
public:
    virtual ~folder();
    folder(const folder&) = delete;
    folder& operator=(const folder&) = delete;

    const std::string& name() const { return _name; }
    bool read_only() const { return _mode == open_mode::read_only; }
    uint32_t uidvalidity() const;
    uint32_t uidnext() const;
    uint64_t highestmodseq() const;

    // Messages ascending by UID, as of the last sync. Listing never reads message files.
    size_t count() const;
    const message& at(size_t i) const;
    const message* find(uint32_t uid) const;
    std::optional<size_t> index_of(uint32_t uid) const;
    // \Recent for this session (claimed by an open_mode::select object).
    bool is_recent(uint32_t uid) const;
    folder_counts counts() const;

    // Keyword table (bit i <-> name); create=true adds a name (writable folder, at most max_keywords).
    const std::vector<std::string>& keywords() const;
    status keyword_bit(std::string_view name, bool create, int& bit);
    bool can_create_keywords() const;

    // Pick up what other processes and deliveries changed since the last sync.
    status sync(changes& out);
    // Message content (LF line ends, as delivered); range reads [offset, offset+len).
    status read(uint32_t uid, std::string& out);
    status read(uint32_t uid, uint64_t offset, uint64_t len, std::string& out);
    // An fd positioned at the start of the message (maildir only; mbox: ENOTSUP).
    virtual status open_message(uint32_t uid, unique_fd& fd) = 0;

    // Change flags and keywords; unchanged_since is CONDSTORE's UNCHANGEDSINCE.
    status store(const std::vector<uint32_t>& uids, flag_op op, uint32_t flags, uint32_t keywords,
                 std::optional<uint64_t> unchanged_since, store_result& out);
    // Remove messages: all \Deleted ones (uids == nullptr), or those of uids
    // (with require_deleted: only if \Deleted, as UID EXPUNGE). Expunged UIDs ascending.
    status expunge(const std::vector<uint32_t>* uids, bool require_deleted, std::vector<uint32_t>& expunged);
    // Add a message (LF line ends); internal_date 0 means now. Returns the UID (APPENDUID).
    status append(std::string_view data, uint32_t flags, const std::vector<std::string>& keywords,
                  int64_t internal_date, uint32_t& uid);
    // Copy (or move) to another open folder; map gets (source uid, dest uid) pairs (COPYUID).
    status copy_to(const std::vector<uint32_t>& uids, folder& dest, bool move,
                   std::vector<std::pair<uint32_t, uint32_t>>& map);

    // QRESYNC: UIDs expunged after modseq. Exact when the folder still remembers
    // that far back; otherwise every UID below uidnext that is not present.
    std::vector<uid_range> vanished_since(uint64_t modseq) const;
    // Messages whose modseq is above modseq (CONDSTORE CHANGEDSINCE), as UIDs.
    std::vector<uint32_t> changed_since(uint64_t modseq) const;

    // Paths whose inotify events mean "call sync()" (see notifier).
    virtual std::vector<std::string> notify_paths() const = 0;
    // mbox: write flag changes kept in the index back into the file (CHECK, CLOSE, LOGOUT).
    virtual status checkpoint() { return status::ok(); }
    // An exclusive lock held for a whole session (POP3 [IN-USE]); EAGAIN if held elsewhere.
    status session_lock(std::string_view tag, unique_fd& out);

protected:
    folder(std::string name, open_mode mode, const limits& lim, std::unique_ptr<folder_index> index);
    // Hooks of the store types. "locked" ones run with the index lock held; they
    // take UIDs because a rescan inside them may move the index entries.
    virtual status sync_impl() = 0;  // refresh + look at the files; changes go to the index
    virtual status rebuild_locked() = 0;  // the index is missing or corrupt: start over
    virtual status read_impl(uint32_t uid, std::string& out) = 0;
    virtual status apply_flags_locked(uint32_t uid, uint32_t flags, uint32_t keywords) = 0;
    // Remove the messages' files; uids is cut to those really removed.
    virtual status remove_locked(std::vector<uint32_t>& uids) = 0;
    // Store a new message; fills e (location, sizes, date) but not uid/modseq.
    virtual status add_locked(std::string_view data, uint32_t flags, uint32_t keywords, int64_t idate,
                              index_entry& e) = 0;
    // Fast copy from a folder of the same kind (maildir: hard link); ENOTSUP = read + add.
    virtual status link_locked(folder& src, uint32_t uid, uint32_t flags, uint32_t keywords, index_entry& out);
    virtual status keywords_changed_locked() { return status::ok(); }
    // Around a batch of the locked hooks (maildir keeps its directory state valid).
    virtual void before_changes_locked() {}
    virtual status after_changes_locked() { return status::ok(); }
    int keyword_bit_locked(std::string_view name);  // -1 when the table is full
    // Lock the index and pick up others' changes (rebuilding a broken index); end_write unlocks.
    status begin_write(bool need_writable);
    void end_write();

    std::unique_ptr<folder_index> _index;
    std::string _name;
    open_mode _mode;
    limits _lim;
    std::vector<uint32_t> _recent;  // sorted UIDs that are \Recent for this object
};
// One inotify instance for many folders (a process has few instances but many watches).
class notifier {
public:
    notifier();
    ~notifier();
    status init();
    int fd() const { return _fd.get(); }
    // Watch the folder's paths; events for them return cookie from read_events().
    status watch(const folder& f, uint64_t cookie);
    void unwatch(uint64_t cookie);
    // Drain pending events (non-blocking); cookies that had events, deduplicated.
    std::vector<uint64_t> read_events();

private:
    unique_fd _fd;
    std::vector<std::pair<int, uint64_t>> _watches;  // (wd, cookie)
};

// ---------------------------------------------------------------- stores
enum class store_type { maildir, mbox };

struct store_spec {
    store_type type = store_type::maildir;
    // maildir: the Maildir directory (INBOX; folders are maildir++ ".Name" subdirectories).
    // mbox: the INBOX mbox file.
    std::string path;
    // mbox only: directory holding the other folders as mbox files ("" = INBOX only).
    std::string folder_dir;
    // mbox only: where the folder indexes live (default folder_dir/.tern-index,
    // or PATH.tern-index/ without a folder_dir).
    std::string index_dir;
};

// Folder name attributes for LIST.
namespace attr {
constexpr uint32_t noselect = 1, has_children = 2, has_no_children = 4, noinferiors = 8;
constexpr uint32_t sent = 16, drafts = 32, trash = 64, junk = 128, archive = 256;
}  // namespace attr
// IMAP names of attribute bits ("\Noselect", "\HasChildren", "\Sent", ...).
std::vector<std::string> attr_names(uint32_t attrs);

struct folder_info {
    std::string name;  // IMAP name, "/" separated, INBOX spelled "INBOX"
    uint32_t attrs = 0;
};

// Folder names: IMAP (modified UTF-7) names with "/" as hierarchy separator.
// "inbox" in any case becomes "INBOX"; empty components, "." and "..",
// control characters, '*' and '%' are rejected. nullopt with a reason.
constexpr char separator = '/';
std::optional<std::string> normalize_folder_name(std::string_view name, std::string* reason = nullptr);
// The special-use attribute implied by a folder name (attr::sent, ...), 0 if none.
uint32_t special_use_of(std::string_view name);

class store {
public:
    static status open(const store_spec& spec, const limits& lim, std::unique_ptr<store>& out);
    virtual ~store();
    store_type type() const { return _spec.type; }
    const store_spec& spec() const { return _spec; }
    const limits& lim() const { return _lim; }

    // Every folder, INBOX first then by name, with attributes (parents that do not
    // exist themselves are listed \Noselect).
    virtual status list_folders(std::vector<folder_info>& out) = 0;
    virtual status create_folder(std::string_view name) = 0;
    // INBOX cannot be deleted; a folder with children keeps its name as \Noselect.
    virtual status delete_folder(std::string_view name) = 0;
    // Renames children too; renaming INBOX moves its messages into a new folder.
    virtual status rename_folder(std::string_view from, std::string_view to) = 0;
    virtual status open_folder(std::string_view name, open_mode mode, std::unique_ptr<folder>& out) = 0;
    bool folder_exists(std::string_view name);

    status subscribe(std::string_view name, bool on);
    status subscriptions(std::vector<std::string>& out);

    // INBOX plus Sent, Drafts, Trash, Junk and Archive, created and subscribed.
    status ensure_default_folders();

protected:
    store(store_spec spec, limits lim) : _spec(std::move(spec)), _lim(lim) {}
    virtual std::string subscriptions_path() const = 0;
    status rename_subscriptions(const std::string& from, const std::string& to);
    store_spec _spec;
    limits _lim;
};

// POP3 UIDL of a message: 8 hex digits of UIDVALIDITY and 8 of the UID, so
// POP3 and IMAP agree on identity.
std::string pop3_uidl(uint32_t uidvalidity, uint32_t uid);

}  // namespace tern::mailbox
