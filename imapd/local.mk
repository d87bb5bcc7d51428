# imapd/local.mk - the IMAP server. The pure parts (parser, sequence sets,
# formatters, search, threading, fetch items) are also compiled into the
# unit tests (tests/local.mk).
pkglibexec_PROGRAMS += imapd/imapd
imapd_imapd_SOURCES = imapd/main.cpp imapd/session.cpp imapd/session.hpp imapd/commands.cpp \
	imapd/cmd_any.cpp imapd/login.cpp imapd/cmd_enable.cpp imapd/cmd_folders.cpp imapd/cmd_list.cpp \
	imapd/cmd_status.cpp imapd/cmd_select.cpp imapd/cmd_append.cpp imapd/cmd_idle.cpp \
	imapd/cmd_fetch.cpp imapd/cmd_store.cpp imapd/cmd_copy.cpp imapd/cmd_search.cpp imapd/cmd_sort.cpp \
	imapd/search_job.hpp imapd/spam_learn.cpp imapd/spam_learn.hpp \
	imapd/parser.cpp imapd/parser.hpp imapd/seqset.cpp imapd/seqset.hpp imapd/format.cpp imapd/format.hpp \
	imapd/bodystructure.cpp imapd/bodystructure.hpp imapd/search.cpp imapd/search.hpp \
	imapd/thread.cpp imapd/thread.hpp imapd/fetch_items.cpp imapd/fetch_items.hpp
imapd_imapd_LDADD = $(TERN_LIBS)
