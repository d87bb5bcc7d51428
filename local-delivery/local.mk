# local-delivery/local.mk - the local delivery agent (private/local).
# Its parts are a small library too, for tests/unit.
noinst_LIBRARIES += local-delivery/liblocal.a
local_delivery_liblocal_a_SOURCES = \
	local-delivery/agent.cpp local-delivery/agent.hpp \
	local-delivery/headers.cpp local-delivery/headers.hpp \
	local-delivery/resolve.cpp local-delivery/resolve.hpp \
	local-delivery/store.cpp local-delivery/store.hpp \
	local-delivery/targets.cpp local-delivery/targets.hpp \
	local-delivery/worker.cpp local-delivery/worker.hpp
UNIT_DAEMON_LIBS += local-delivery/liblocal.a

pkglibexec_PROGRAMS += local-delivery/local-delivery
local_delivery_local_delivery_SOURCES = local-delivery/main.cpp
local_delivery_local_delivery_LDADD = local-delivery/liblocal.a $(TERN_LIBS)
