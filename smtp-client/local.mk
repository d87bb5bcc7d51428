# smtp-client/local.mk - the outbound SMTP delivery agent, smtp(8).
pkglibexec_PROGRAMS += smtp-client/smtp-client
smtp_client_smtp_client_SOURCES = \
	smtp-client/main.cpp \
	smtp-client/cache.cpp smtp-client/cache.hpp \
	smtp-client/connection.cpp smtp-client/connection.hpp \
	smtp-client/data.cpp smtp-client/data.hpp \
	smtp-client/delivery.cpp smtp-client/delivery.hpp \
	smtp-client/downgrade.cpp smtp-client/downgrade.hpp \
	smtp-client/message.cpp smtp-client/message.hpp \
	smtp-client/protocol.cpp smtp-client/protocol.hpp \
	smtp-client/reply.cpp smtp-client/reply.hpp \
	smtp-client/resolve.cpp smtp-client/resolve.hpp \
	smtp-client/route.cpp smtp-client/route.hpp
smtp_client_smtp_client_LDADD = $(TERN_LIBS)
