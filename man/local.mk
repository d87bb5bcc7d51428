# man/local.mk
dist_man_MANS += man/tern-map.1 man/newaliases.1 man/aliases.5
