# tests/local.mk - unit tests (Catch2) and the integration suite (pytest).
check_PROGRAMS += tests/unit/unit_tests
tests_unit_unit_tests_SOURCES = \
	tests/unit/main.cpp \
	tests/unit/addr_test.cpp \
	tests/unit/aliases_test.cpp \
	tests/unit/attr_test.cpp \
	tests/unit/bayes_test.cpp \
	tests/unit/cleanup_test.cpp \
	tests/unit/config_test.cpp \
	tests/unit/db_test.cpp \
	tests/unit/dns_server_fixture.hpp \
	tests/unit/dns_test.cpp \
	tests/unit/dnsbl_test.cpp \
	tests/unit/event_test.cpp \
	tests/unit/fd_test.cpp \
	tests/unit/greylist_test.cpp \
	tests/unit/imap_bodystructure_test.cpp imapd/bodystructure.cpp \
	tests/unit/imap_fetch_test.cpp imapd/fetch_items.cpp \
	tests/unit/imap_format_test.cpp imapd/format.cpp \
	tests/unit/imap_parser_test.cpp imapd/parser.cpp \
	tests/unit/imap_search_test.cpp imapd/search.cpp \
	tests/unit/imap_seqset_test.cpp imapd/seqset.cpp \
	tests/unit/imap_thread_test.cpp imapd/thread.cpp \
	tests/unit/ipc_test.cpp \
	tests/unit/local_resolve_test.cpp \
	tests/unit/local_worker_test.cpp \
	tests/unit/log_test.cpp \
	tests/unit/mailbox_mbox_test.cpp \
	tests/unit/mailbox_test.cpp \
	tests/unit/mailbox_test_util.hpp \
	tests/unit/maps_test.cpp \
	tests/unit/master_cf_test.cpp \
	tests/unit/mbox_format_test.cpp \
	tests/unit/mime_test.cpp \
	tests/unit/mime_tree_test.cpp \
	tests/unit/net_test.cpp \
	tests/unit/passwd_test.cpp \
	tests/unit/pop3_parse_test.cpp pop3d/parse.cpp \
	tests/unit/privs_test.cpp \
	tests/unit/qmgr_bounce_test.cpp \
	tests/unit/qmgr_route_test.cpp \
	tests/unit/qmgr_sched_test.cpp \
	tests/unit/queue_test.cpp \
	tests/unit/smtp_proto_test.cpp \
	tests/unit/spf_test.cpp \
	tests/unit/stream_test.cpp \
	tests/unit/strutil_test.cpp \
	tests/unit/utf8_test.cpp \
	tests/unit/workers_test.cpp
tests_unit_unit_tests_LDADD = $(UNIT_DAEMON_LIBS) $(TERN_LIBS)
# dns_test starts tests/tools/dns_server.py from the source tree
tests_unit_unit_tests_CPPFLAGS = $(AM_CPPFLAGS) -DTERN_SRCDIR='"$(abs_top_srcdir)"'

EXTRA_DIST += tests/run_checks.py tests/integration tests/tools
EXTRA_DIST += tests/fuzz

# make check: unit tests, then the integration tests against real instances.
# The summary's last line is "N passed, N failed".
check-local: $(check_PROGRAMS) all
	@/usr/bin/python3 $(top_srcdir)/tests/run_checks.py --build "$(abs_top_builddir)" --src "$(abs_top_srcdir)"

# smtp-client's pure parts (protocol engine, routing, encoders) in the unit tests
tests_unit_unit_tests_SOURCES += \
	tests/unit/smtp_client_test.cpp \
	smtp-client/data.cpp smtp-client/data.hpp \
	smtp-client/downgrade.cpp smtp-client/downgrade.hpp \
	smtp-client/protocol.cpp smtp-client/protocol.hpp \
	smtp-client/reply.cpp smtp-client/reply.hpp \
	smtp-client/route.cpp smtp-client/route.hpp

# libFuzzer targets (clang, ASan, UBSan): `make fuzz` builds them into
# tests/fuzz/out; `make check` also runs each briefly when clang is present.
EXTRA_DIST += tests/fuzz
fuzz:
	sh $(top_srcdir)/tests/fuzz/build.sh "$(abs_top_srcdir)" "$(abs_top_builddir)/tests/fuzz/out"
fuzz-run: fuzz
	sh $(top_srcdir)/tests/fuzz/run_all.sh "$(abs_top_srcdir)" "$(abs_top_builddir)/tests/fuzz/out" 60
.PHONY: fuzz fuzz-run
clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/out

# queue files for the queue tool tests (tests/integration/test_queue_tools.py)
check_PROGRAMS += tests/tools/queue_fixture
tests_tools_queue_fixture_SOURCES = tests/tools/queue_fixture.cpp
tests_tools_queue_fixture_LDADD = $(TERN_LIBS)
