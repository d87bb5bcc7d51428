# cli/local.mk
# tern-map (like postmap) and newaliases: table builds and queries
bin_PROGRAMS += cli/tern-map cli/newaliases
cli_tern_map_SOURCES = cli/tern_map.cpp cli/cli_config.hpp
cli_tern_map_LDADD = $(TERN_LIBS)
cli_newaliases_SOURCES = cli/newaliases.cpp cli/cli_config.hpp
cli_newaliases_LDADD = $(TERN_LIBS)
