# lib/local.mk - libtern, the library every daemon and tool links.
noinst_LIBRARIES += lib/libtern.a
lib_libtern_a_SOURCES = \
	lib/attr.cpp lib/attr.hpp \
	lib/config.cpp lib/config.hpp \
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
	lib/master_cf.cpp lib/master_cf.hpp \
	lib/mbox_format.cpp lib/mbox_format.hpp \
	lib/net.cpp lib/net.hpp \
	lib/params.cpp lib/params.hpp \
	lib/params_access.cpp \
	lib/params_core.cpp \
	lib/params_delivery.cpp \
	lib/params_smtpd.cpp \
	lib/params_spamd.cpp \
	lib/privs.cpp lib/privs.hpp \
	lib/server.cpp lib/server.hpp \
	lib/stream.cpp lib/stream.hpp \
	lib/strutil.cpp lib/strutil.hpp \
	lib/tls.cpp lib/tls.hpp
