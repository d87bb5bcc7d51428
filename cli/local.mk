# cli/local.mk - administrative commands.
sbin_PROGRAMS += cli/tern
cli_tern_SOURCES = cli/tern_main.cpp cli/tern_init.cpp cli/tern_control.cpp cli/tern_check.cpp cli/tern.hpp
cli_tern_LDADD = $(TERN_LIBS)

# tern-map (like postmap) and newaliases: table builds and queries
bin_PROGRAMS += cli/tern-map cli/newaliases
cli_tern_map_SOURCES = cli/tern_map.cpp cli/cli_config.hpp
cli_tern_map_LDADD = $(TERN_LIBS)
cli_newaliases_SOURCES = cli/newaliases.cpp cli/cli_config.hpp
cli_newaliases_LDADD = $(TERN_LIBS)

# The queue tools: postqueue (also run as mailq) and postsuper.
bin_PROGRAMS += cli/postqueue cli/postsuper
BIN_ALIASES += mailq:postqueue
cli_postqueue_SOURCES = cli/postqueue.cpp cli/queue_tool.cpp cli/queue_tool.hpp
cli_postqueue_LDADD = $(TERN_LIBS)
cli_postsuper_SOURCES = cli/postsuper.cpp cli/queue_tool.cpp cli/queue_tool.hpp
cli_postsuper_LDADD = $(TERN_LIBS)

# sendmail: Sendmail-compatible submission into maildrop/
bin_PROGRAMS += cli/sendmail
cli_sendmail_SOURCES = cli/sendmail.cpp cli/sendmail_bs.cpp cli/sendmail_drop.cpp cli/sendmail.hpp
cli_sendmail_LDADD = $(TERN_LIBS)

# tern-spam: the classifier's tool (learn, classify, tokens; spamd adds spf).
# One file per sub-command.
bin_PROGRAMS += cli/tern-spam
cli_tern_spam_SOURCES = cli/tern_spam.cpp cli/tern_spam.hpp cli/tern_spam_input.cpp \
	cli/tern_spam_classify.cpp cli/tern_spam_learn.cpp cli/tern_spam_tokens.cpp cli/cli_config.hpp
cli_tern_spam_LDADD = $(TERN_LIBS)
