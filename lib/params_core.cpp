// params_core.cpp - parameters shared by every part of tern: directories,
// identity, network, logging, the master and the auth service.
#include "lib/params.hpp"

namespace tern {
namespace {
using T = param_type;
constexpr int64_t DAY = 86400;

const param_def rows[] = {
    // directories and identity
    {"config_directory", T::string, TERN_CONFIG_DIR, "Directory holding main.cf and master.cf (set by -c)."},
    {"queue_directory", T::string, TERN_QUEUE_DIR, "Root of the mail queue: incoming, active, deferred, hold, corrupt, bounce and the service sockets."},
    {"data_directory", T::string, "$queue_directory/data", "Directory for tern's own databases (greylisting, spam tokens, TLS session cache)."},
    {"daemon_directory", T::string, TERN_DAEMON_DIR, "Directory holding the daemon programs that master.cf names."},
    {"command_directory", T::string, TERN_COMMAND_DIR, "Directory holding the administrative commands (tern, sendmail, postqueue, ...)."},
    {"mail_owner", T::string, "tern", "Unprivileged account the network daemons run as and that owns the queue."},
    {"setgid_group", T::string, "terndrop", "Group that owns maildrop/ and lets sendmail submit mail while tern is stopped."},
    {"myhostname", T::string, "!hostname", "Fully qualified name of this mail host (default: the system host name)."},
    {"mydomain", T::string, "!domain", "Internet domain of this host (default: $myhostname minus its first label)."},
    {"myorigin", T::string, "$myhostname", "Domain appended to locally posted mail without a domain."},
    {"mydestination", T::list, "$myhostname, localhost.$mydomain, localhost", "Domains delivered locally to system users and aliases."},
    {"mynetworks", T::list, "127.0.0.0/8 [::1]/128", "Trusted client networks (CIDR or type:table) that may relay (permit_mynetworks)."},
    {"relay_domains", T::list, "", "Domains this host relays mail to (reject_unauth_destination accepts them)."},
    {"relayhost", T::string, "", "Default next hop for non-local mail: host, [host], [host]:port; empty means MX lookup."},
    {"inet_interfaces", T::list, "all", "Addresses to listen on: all, loopback-only, or a list of addresses."},
    {"inet_protocols", T::list, "all", "IP versions to use: all, ipv4, ipv6."},

    // logging
    {"syslog_name", T::string, "tern", "Prefix of log lines (\"tern/smtpd[pid]: ...\"); set per service with -o, e.g. tern/submission."},
    {"maillog_file", T::string, "", "Append log lines to this file instead of syslog (opened by master)."},
    {"debug_peer_list", T::list, "", "Clients (addresses or networks) whose sessions are logged verbosely."},

    // master
    {"master_restart_min_delay", T::time, "1s", "Delay before restarting a daemon that exited unexpectedly.", 0, DAY},
    {"master_restart_max_delay", T::time, "60s", "Longest restart delay for a daemon that keeps dying (the delay doubles).", 1, DAY},
    {"master_listen_backlog", T::integer, "4096", "Connections the kernel queues for a listener before its daemon accepts them (capped by net.core.somaxconn) (a tern addition).", 16, 65535},
    {"master_stop_timeout", T::time, "10s", "How long master waits for its children at stop before killing them.", 1, 3600},
    {"service_drain_timeout", T::time, "60s", "How long an old daemon may finish its sessions after a reload or stop.", 0, 3600},
    {"ipc_timeout", T::time, "300s", "Time limit for a request over an internal UNIX socket.", 1, DAY},
    {"default_process_limit", T::integer, "1", "Processes master keeps for a service whose maxproc is '-' (each serves many clients).", 1, 1000},

    // lookup tables shared by several daemons
    {"alias_maps", T::list, "hash:$config_directory/aliases", "Alias tables consulted by local delivery (built with newaliases)."},
    {"alias_database", T::list, "hash:$config_directory/aliases", "Alias tables that newaliases builds."},
    {"virtual_mailbox_domains", T::list, "", "Domains whose users are virtual mailboxes (the users of tern init)."},
    {"virtual_mailbox_maps", T::list, "", "Tables mapping virtual addresses to mailbox paths relative to virtual_mailbox_base."},
    {"virtual_mailbox_base", T::string, "", "Directory under which virtual mailboxes live."},
    {"virtual_alias_maps", T::list, "", "Tables rewriting recipient addresses to other addresses (virtual aliases)."},
    {"recipient_delimiter", T::string, "+", "Separator between user and extension in local parts (user+tag)."},
    {"default_database_type", T::string, "hash", "Table type used when tern-map or newaliases is given a bare file name."},
    {"table_line_length_limit", T::size, "65536", "Longest logical line (with continuations) in a table or aliases file.", 256, 16 << 20},
    {"table_entry_limit", T::integer, "100000", "Most entries of a table held in memory (texthash:, cidr:, inline:).", 1, 100000000},
    {"regexp_table_limit", T::integer, "1000", "Most patterns in one regexp: table.", 1, 1000000},

    // auth service
    {"auth_password_maps", T::list, "passwd:$config_directory/users", "Where auth finds users and crypt(3) hashes: passwd:FILE (name:hash lines) or hash:/btree: tables."},
    {"auth_default_domain", T::string, "$mydomain", "Domain appended to a login name without one when looking it up."},
    {"auth_failure_delay", T::time, "1s", "Base delay before answering a failed login; it doubles with each further failure.", 0, 3600},
    {"auth_failure_max_delay", T::time, "8s", "Longest delay before answering a failed login.", 0, 3600},
    {"auth_failure_limit", T::integer, "10", "Failed logins per client address or per user within auth_failure_window before auth refuses outright.", 1, 1000000},
    {"auth_failure_window", T::time, "10m", "Period over which failed logins are counted.", 1, 7 * DAY},
    {"auth_service_name", T::string, "private/auth", "Socket of the auth service, relative to queue_directory."},

    // TLS shared by smtpd, pop3d, imapd
    {"tls_cert_file", T::string, "", "PEM certificate chain offered by smtpd, pop3d and imapd unless they name their own."},
    {"tls_key_file", T::string, "$tls_cert_file", "PEM private key for tls_cert_file."},
    {"tls_protocols_min", T::string, "TLSv1.2", "Lowest TLS version accepted by servers and clients (TLSv1.2 or TLSv1.3)."},

    // DNS
    {"dns_resolver", T::list, "system", "How tern resolves DNS: system (resolv.conf nameservers and /etc/hosts) or a list of forwarders ADDR[@PORT] that are asked for every name, special-use names included."},
    {"dns_timeout", T::time, "10s", "Time limit for one DNS query; a query still unanswered then fails with a timeout.", 1, 600},
    {"dns_trust_anchor_file", T::string, "", "DNSSEC trust anchor (DS or DNSKEY lines, e.g. /usr/share/dns/root.key); empty: no validation, every answer is insecure."},

    // queue basics shared by smtpd, qmgr and the queue tools
    {"queue_minfree", T::size, "20971520", "Free space the queue's file system must keep; below it smtpd answers 452 4.3.1.", 0},
    {"message_size_limit", T::size, "10240000", "Largest message accepted, in bytes (0: no limit).", 0},
    {"hash_queue_depth", T::integer, "1", "Levels of hash subdirectories under deferred/ and hold/.", 0, 2},
};

}  // namespace

std::span<const param_def> params_core() { return rows; }

}  // namespace tern
