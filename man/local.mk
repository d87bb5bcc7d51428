# man/local.mk - manual pages; main.cf(5) lists the parameter table, so it
# is generated from `tern config --man-table` at build time.
dist_man_MANS += man/tern.1 man/master.8 man/auth.8 man/master.cf.5 man/pop3d.8
man_MANS = man/main.cf.5
EXTRA_DIST += man/main.cf.5.in
CLEANFILES += man/main.cf.5

man/main.cf.5: $(srcdir)/man/main.cf.5.in cli/tern$(EXEEXT)
	@$(MKDIR_P) man
	$(AM_V_GEN)cli/tern$(EXEEXT) config --man-table > man/main.cf.5.tbl && \
	sed -e '/@PARAMS@/{r man/main.cf.5.tbl' -e 'd}' $(srcdir)/man/main.cf.5.in > man/main.cf.5 && rm -f man/main.cf.5.tbl
all-local: man/main.cf.5
dist_man_MANS += man/smtp.8
dist_man_MANS += man/postqueue.1 man/mailq.1 man/postsuper.1
dist_man_MANS += man/tern-map.1 man/newaliases.1 man/aliases.5
dist_man_MANS += man/smtpd.8 man/sendmail.1 man/pickup.8
dist_man_MANS += man/tern-spam.1
