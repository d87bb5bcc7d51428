# pop3d/local.mk - the POP3 server.
pkglibexec_PROGRAMS += pop3d/pop3d
pop3d_pop3d_SOURCES = pop3d/main.cpp pop3d/session.cpp pop3d/session.hpp \
	pop3d/cmd_auth.cpp pop3d/cmd_mail.cpp pop3d/parse.cpp pop3d/parse.hpp
pop3d_pop3d_LDADD = $(TERN_LIBS)
