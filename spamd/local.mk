# spamd/local.mk - the policy service (SPF, DNSBL, greylisting, client checks)
# and the content service.
pkglibexec_PROGRAMS += spamd/spamd
spamd_spamd_SOURCES = spamd/main.cpp \
	spamd/check_client.cpp \
	spamd/check_dnsbl.cpp \
	spamd/check_greylist.cpp \
	spamd/check_spf.cpp \
	spamd/content.cpp spamd/content.hpp \
	spamd/policy.cpp spamd/policy.hpp \
	spamd/policy_conn.cpp spamd/policy_conn.hpp
spamd_spamd_LDADD = $(TERN_LIBS)
