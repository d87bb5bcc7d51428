# lib/local.mk - libtern, the library every daemon and tool links.
noinst_LIBRARIES += lib/libtern.a
lib_libtern_a_SOURCES = \
	lib/addr.cpp lib/addr.hpp \
	lib/addr_list.cpp \
	lib/aliases.cpp lib/aliases.hpp \
	lib/attr.cpp lib/attr.hpp \
	lib/bayes.cpp lib/bayes.hpp \
	lib/bayes_score.cpp \
	lib/bayes_store.cpp \
	lib/bayes_tokenize.cpp \
	lib/cidr.cpp lib/cidr.hpp \
	lib/cleanup.cpp lib/cleanup.hpp \
	lib/config.cpp lib/config.hpp \
	lib/db.cpp lib/db.hpp \
	lib/dns.cpp lib/dns.hpp \
	lib/dns_parse.cpp \
	lib/event.cpp lib/event.hpp \
	lib/fd.cpp lib/fd.hpp \
	lib/ipc.cpp lib/ipc.hpp \
	lib/log.cpp lib/log.hpp \
	lib/mailbox.hpp \
	lib/mailbox_deliver.cpp \
	lib/mailbox_folder.cpp \
	lib/mailbox_impl.hpp \
	lib/mailbox_index.cpp lib/mailbox_index.hpp \
	lib/mailbox_index_write.cpp \
	lib/mailbox_lock.cpp lib/mailbox_lock.hpp \
	lib/mailbox_maildir.cpp \
	lib/mailbox_mbox.cpp \
	lib/mailbox_store.cpp \
	lib/map_regexp.cpp \
	lib/map_source.cpp lib/map_source.hpp \
	lib/map_types.hpp \
	lib/maps.cpp lib/maps.hpp \
	lib/master_cf.cpp lib/master_cf.hpp \
	lib/mbox_format.cpp lib/mbox_format.hpp \
	lib/mime.cpp lib/mime.hpp \
	lib/mime_codec.cpp \
	lib/mime_tree.cpp \
	lib/net.cpp lib/net.hpp \
	lib/net_list.cpp lib/net_list.hpp \
	lib/params.cpp lib/params.hpp \
	lib/passwd.cpp lib/passwd.hpp \
	lib/params_access.cpp \
	lib/params_core.cpp \
	lib/params_delivery.cpp \
	lib/params_smtpd.cpp \
	lib/params_spamd.cpp \
	lib/privs.cpp lib/privs.hpp \
	lib/queue_commit.cpp lib/queue_commit.hpp \
	lib/queue_ctl.cpp lib/queue_ctl.hpp \
	lib/queue_dir.cpp lib/queue_dir.hpp \
	lib/queue_file.cpp lib/queue_file.hpp \
	lib/queue_id.cpp lib/queue_id.hpp \
	lib/queue_list.cpp lib/queue_list.hpp \
	lib/queue_writer.cpp lib/queue_writer.hpp \
	lib/server.cpp lib/server.hpp \
	lib/smtp_proto.cpp lib/smtp_proto.hpp \
	lib/stream.cpp lib/stream.hpp \
	lib/strutil.cpp lib/strutil.hpp \
	lib/tls.cpp lib/tls.hpp \
	lib/userdb.cpp lib/userdb.hpp \
	lib/utf8.cpp lib/utf8.hpp \
	lib/workers.cpp lib/workers.hpp
