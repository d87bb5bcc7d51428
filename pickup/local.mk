# pickup/local.mk - the daemon that queues mail dropped by sendmail.
pkglibexec_PROGRAMS += pickup/pickup
pickup_pickup_SOURCES = pickup/main.cpp pickup/pickup.cpp pickup/pickup.hpp
pickup_pickup_LDADD = $(TERN_LIBS)
