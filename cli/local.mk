# cli/local.mk - administrative commands.
sbin_PROGRAMS += cli/tern
cli_tern_SOURCES = cli/tern_main.cpp cli/tern_init.cpp cli/tern_control.cpp cli/tern_check.cpp cli/tern.hpp
cli_tern_LDADD = $(TERN_LIBS)
