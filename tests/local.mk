# tests/local.mk - unit tests (Catch2) and the integration suite (pytest).
check_PROGRAMS += tests/unit/unit_tests
tests_unit_unit_tests_SOURCES = \
	tests/unit/main.cpp \
	tests/unit/attr_test.cpp \
	tests/unit/config_test.cpp \
	tests/unit/fd_test.cpp \
	tests/unit/master_cf_test.cpp \
	tests/unit/strutil_test.cpp
tests_unit_unit_tests_LDADD = $(TERN_LIBS)

EXTRA_DIST += tests/run_checks.py tests/integration tests/tools

# make check: unit tests, then the integration tests against real instances.
# The summary's last line is "N passed, N failed".
check-local: $(check_PROGRAMS) all
	@/usr/bin/python3 $(top_srcdir)/tests/run_checks.py --build "$(abs_top_builddir)" --src "$(abs_top_srcdir)"
tests_unit_unit_tests_SOURCES += \
	tests/unit/smtp_client_test.cpp \
	smtp-client/data.cpp smtp-client/data.hpp \
	smtp-client/protocol.cpp smtp-client/protocol.hpp \
	smtp-client/reply.cpp smtp-client/reply.hpp \
	smtp-client/route.cpp smtp-client/route.hpp
