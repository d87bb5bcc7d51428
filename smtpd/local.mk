# smtpd/local.mk - the SMTP server.
pkglibexec_PROGRAMS += smtpd/smtpd
smtpd_smtpd_SOURCES = \
	smtpd/cmd_auth.cpp \
	smtpd/cmd_data.cpp \
	smtpd/cmd_helo.cpp \
	smtpd/cmd_mail.cpp \
	smtpd/cmd_misc.cpp \
	smtpd/cmd_rcpt.cpp \
	smtpd/cmd_starttls.cpp \
	smtpd/commands.cpp smtpd/commands.hpp \
	smtpd/context.cpp smtpd/smtpd.hpp \
	smtpd/main.cpp \
	smtpd/message.cpp smtpd/message.hpp \
	smtpd/policy.cpp smtpd/policy.hpp \
	smtpd/recipients.cpp smtpd/recipients.hpp \
	smtpd/restrictions.cpp smtpd/restrictions.hpp \
	smtpd/session.cpp smtpd/session.hpp
smtpd_smtpd_LDADD = $(TERN_LIBS)
