# master/local.mk - the supervisor.
pkglibexec_PROGRAMS += master/master
master_master_SOURCES = master/main.cpp master/supervisor.cpp master/supervisor.hpp
master_master_LDADD = $(TERN_LIBS)
