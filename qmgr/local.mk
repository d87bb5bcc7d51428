# qmgr/local.mk - the queue manager: scheduler, bounces/DSN, queue scans.
# Its parts are a small library too, so tests/unit can test them.
noinst_LIBRARIES += qmgr/libqmgr.a
qmgr_libqmgr_a_SOURCES = \
	qmgr/bounce.cpp qmgr/bounce.hpp \
	qmgr/sched.cpp qmgr/sched.hpp
UNIT_DAEMON_LIBS += qmgr/libqmgr.a
