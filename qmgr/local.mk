# qmgr/local.mk - the queue manager: scheduler, routing, bounces/DSN, queue
# scans. Its parts are a small library too, so tests/unit can test them.
noinst_LIBRARIES += qmgr/libqmgr.a
qmgr_libqmgr_a_SOURCES = \
	qmgr/bounce.cpp qmgr/bounce.hpp \
	qmgr/deliver.cpp \
	qmgr/finish.cpp \
	qmgr/manager.cpp qmgr/manager.hpp \
	qmgr/route.cpp qmgr/route.hpp \
	qmgr/scan.cpp qmgr/scan.hpp \
	qmgr/sched.cpp qmgr/sched.hpp
UNIT_DAEMON_LIBS += qmgr/libqmgr.a

pkglibexec_PROGRAMS += qmgr/qmgr
qmgr_qmgr_SOURCES = qmgr/main.cpp
qmgr_qmgr_LDADD = qmgr/libqmgr.a $(TERN_LIBS)
