# conf/local.mk - default configuration files, installed without
# overwriting an administrator's existing files.
EXTRA_DIST += conf/main.cf conf/master.cf conf/aliases

install-data-local:
	$(MKDIR_P) "$(DESTDIR)$(tern_confdir)"
	@for f in main.cf master.cf aliases; do \
		if [ -f "$(DESTDIR)$(tern_confdir)/$$f" ]; then \
			echo "keeping existing $(DESTDIR)$(tern_confdir)/$$f"; \
		else \
			$(INSTALL_DATA) "$(srcdir)/conf/$$f" "$(DESTDIR)$(tern_confdir)/$$f"; \
		fi; \
	done
	$(MKDIR_P) "$(DESTDIR)$(tern_queuedir)"

uninstall-local:
	@echo "leaving configuration in $(DESTDIR)$(tern_confdir)"
