# lib/local.mk - libtern, the library every daemon and tool links.
noinst_LIBRARIES += lib/libtern.a
lib_libtern_a_SOURCES = \
	lib/addr.cpp lib/addr.hpp \
	lib/addr_list.cpp \
	lib/attr.cpp lib/attr.hpp \
	lib/config.cpp lib/config.hpp \
	lib/dns.cpp lib/dns.hpp \
	lib/dns_parse.cpp \
	lib/event.cpp lib/event.hpp \
	lib/fd.cpp lib/fd.hpp \
	lib/ipc.cpp lib/ipc.hpp \
	lib/log.cpp lib/log.hpp \
	lib/master_cf.cpp lib/master_cf.hpp \
	lib/mime.cpp lib/mime.hpp \
	lib/mime_codec.cpp \
	lib/mime_tree.cpp \
	lib/net.cpp lib/net.hpp \
	lib/params.cpp lib/params.hpp \
	lib/passwd.cpp lib/passwd.hpp \
	lib/params_access.cpp \
	lib/params_core.cpp \
	lib/params_delivery.cpp \
	lib/params_smtpd.cpp \
	lib/params_spamd.cpp \
	lib/privs.cpp lib/privs.hpp \
	lib/server.cpp lib/server.hpp \
	lib/stream.cpp lib/stream.hpp \
	lib/strutil.cpp lib/strutil.hpp \
	lib/tls.cpp lib/tls.hpp \
	lib/utf8.cpp lib/utf8.hpp \
	lib/workers.cpp lib/workers.hpp
