# local-delivery/local.mk - the local delivery agent (private/local).
# Its routing and header parts are a small library too, for tests/unit.
noinst_LIBRARIES += local-delivery/liblocal.a
local_delivery_liblocal_a_SOURCES = \
	local-delivery/headers.cpp local-delivery/headers.hpp \
	local-delivery/resolve.cpp local-delivery/resolve.hpp
UNIT_DAEMON_LIBS += local-delivery/liblocal.a
