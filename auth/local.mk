# auth/local.mk - the credential service.
pkglibexec_PROGRAMS += auth/auth
auth_auth_SOURCES = auth/main.cpp auth/throttle.cpp auth/throttle.hpp
auth_auth_LDADD = $(TERN_LIBS)
