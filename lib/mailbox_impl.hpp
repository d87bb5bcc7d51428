// mailbox_impl.hpp - the store types behind lib/mailbox.hpp: maildir and
// mbox folders and stores, and the maildir file name helpers. Internal to
// the mailbox modules (mailbox_*.cpp) and their unit tests.
#pragma once

#include <string>
#include <string_view>
#include <sys/stat.h>

#include "lib/mailbox.hpp"
#include "lib/mailbox_index.hpp"
#include "lib/mailbox_lock.hpp"

namespace tern::mailbox {

// ---------------------------------------------------------------- maildir names
// "SEC.MusecPpidQcountRrandom.HOST" with '/', ':' and ',' in HOST escaped as \057 \072 \054.
std::string maildir_unique_base();
// Info letters in ASCII order: D F P R S T, then a..z for keyword bits.
std::string flag_letters(uint32_t flags, uint32_t keywords);
void parse_flag_letters(std::string_view letters, uint32_t& flags, uint32_t& keywords);
struct maildir_name {
    std::string_view base;     // before ':'
    bool has_info = false;     // ":2," present
    std::string_view letters;  // after ":2,"
};
maildir_name split_maildir_name(std::string_view file);
// ",S=size" and ",W=wire" in a base name.
bool sizes_from_name(std::string_view base, uint64_t& size, uint64_t& wire);
// Write a message to DIR/tmp/BASE, fsync it; size/wire counted. The caller links it.
status write_tmp_message(const std::string& dir, const std::string& base, const message_reader& reader,
                         int64_t mtime, uint64_t& size, uint64_t& wire);
// Create DIR with tmp/ new/ cur/ (and maildirfolder for a ".Name" folder).
status make_maildir(const std::string& dir);
message_reader string_reader(std::string_view data);

// ---------------------------------------------------------------- mbox helpers
// Append bytes to a locked mbox fd; on failure truncate back to orig_size.
status mbox_append_locked(int fd, uint64_t orig_size, const std::string& path, std::string_view bytes,
                          bool do_fsync);
// The blank-line padding needed before a new From_ line at the end of fd.
std::string mbox_padding(int fd, uint64_t size);
// Open PATH for appending under dotlock + OFD lock (re-opening if it was replaced meanwhile).
status mbox_open_locked(const std::string& path, const limits& lim, bool create, unique_fd& fd, struct stat& st,
                        dotlock& dl);

// ---------------------------------------------------------------- folders
class maildir_folder final : public folder {
public:
    static status open(const std::string& dir, std::string name, open_mode mode, const limits& lim,
                       std::unique_ptr<folder>& out);
    status open_message(uint32_t uid, unique_fd& fd) override;
    std::vector<std::string> notify_paths() const override;
    const std::string& dir() const { return _dir; }

private:
    maildir_folder(std::string dir, std::string name, open_mode mode, const limits& lim);
    status sync_impl() override;
    status rebuild_locked() override;
    status read_impl(uint32_t uid, std::string& out) override;
    status apply_flags_locked(uint32_t uid, uint32_t flags, uint32_t keywords) override;
    status remove_locked(std::vector<uint32_t>& uids) override;
    status add_locked(std::string_view data, uint32_t flags, uint32_t keywords, int64_t idate,
                      index_entry& e) override;
    status link_locked(folder& src, uint32_t uid, uint32_t flags, uint32_t keywords, index_entry& out) override;
    status keywords_changed_locked() override;
    void before_changes_locked() override;
    status after_changes_locked() override;

    std::string path_of(const index_entry& e) const;
    status scan_locked(bool do_new, bool do_cur);
    status claim_locked();
    // Find a message file, rescanning the folder once if it moved; "" if gone.
    std::string locate_locked(uint32_t uid);
    // Read or open a message file, rescanning under the lock if it moved.
    status open_file(uint32_t uid, unique_fd& fd);

    std::string _dir;
    bool _cur_touched = false, _need_dir_sync = false;  // during a batch of locked changes
};

class mbox_folder final : public folder {
public:
    static status open(const std::string& path, const std::string& index_base, std::string name, open_mode mode,
                       const limits& lim, std::unique_ptr<folder>& out);
    ~mbox_folder() override;
    status open_message(uint32_t uid, unique_fd& fd) override;
    std::vector<std::string> notify_paths() const override;
    status checkpoint() override;

private:
    mbox_folder(std::string path, std::string index_base, std::string name, open_mode mode, const limits& lim);
    status sync_impl() override;
    status rebuild_locked() override;
    status read_impl(uint32_t uid, std::string& out) override;
    status apply_flags_locked(uint32_t uid, uint32_t flags, uint32_t keywords) override;
    status remove_locked(std::vector<uint32_t>& uids) override;
    status add_locked(std::string_view data, uint32_t flags, uint32_t keywords, int64_t idate,
                      index_entry& e) override;

    bool file_matches_scan(const struct stat* st) const;
    // Bring the index up to the file (fd locked): parse appended mail, or
    // everything when the file changed otherwise.
    status absorb_locked(int fd, const struct stat& st);
    status parse_locked(int fd, const struct stat& st, bool full);
    // Open the file with a read lock and absorb it; a missing file is an empty folder.
    status sync_file_locked();
    status rewrite_locked(const std::vector<uint32_t>& drop);
    void record_scan(int fd, const struct stat& st);
    std::vector<std::string> keyword_names(uint32_t bits) const;

    std::string _path;
    unique_fd _fd;  // for reads; its inode matches the index's scan[0]
    bool _changed_flags = false;  // write back at destruction unless checkpoint() ran
};

// ---------------------------------------------------------------- stores
class maildir_store final : public store {
public:
    maildir_store(store_spec spec, limits lim) : store(std::move(spec), lim) {}
    status list_folders(std::vector<folder_info>& out) override;
    status create_folder(std::string_view name) override;
    status delete_folder(std::string_view name) override;
    status rename_folder(std::string_view from, std::string_view to) override;
    status open_folder(std::string_view name, open_mode mode, std::unique_ptr<folder>& out) override;
    std::string dir_of(const std::string& normalized) const;

private:
    std::string subscriptions_path() const override { return _spec.path + "/subscriptions"; }
    status folder_names(std::vector<std::string>& out);
};

class mbox_store final : public store {
public:
    mbox_store(store_spec spec, limits lim);
    status list_folders(std::vector<folder_info>& out) override;
    status create_folder(std::string_view name) override;
    status delete_folder(std::string_view name) override;
    status rename_folder(std::string_view from, std::string_view to) override;
    status open_folder(std::string_view name, open_mode mode, std::unique_ptr<folder>& out) override;
    std::string path_of(const std::string& normalized) const;
    std::string index_base_of(const std::string& normalized) const;

private:
    std::string subscriptions_path() const override { return _spec.index_dir + "/subscriptions"; }
};

// Maildir++ directory name ("Lists/tern.dev" -> ".Lists.tern%2Edev") and back.
std::string maildirpp_encode(std::string_view name);
std::optional<std::string> maildirpp_decode(std::string_view dirname);
// Add \HasChildren/\HasNoChildren, virtual \Noselect parents and special-use
// attributes to a list of existing names; INBOX first, then sorted.
std::vector<folder_info> finish_folder_list(std::vector<folder_info> in);
// Recursive removal (folder deletion); false with errno on failure.
bool remove_tree(const std::string& path);
// INBOX rename (RFC 3501): create `to`, move every message there, INBOX stays.
status move_inbox(store& st, const std::string& to);

}  // namespace tern::mailbox
