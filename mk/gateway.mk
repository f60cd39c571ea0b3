# Gateway targets (included by the main Makefile).
#   make install-gateway     on a Raspberry Pi, as root: venv in /opt, user, unit, config,
#                            state folder (first the step below); without systemd running too.
#                            Packagers: DESTDIR=<staging root> writes every file under it (no
#                            user made, nothing chowned, started or restarted: a package's
#                            postinst does that); PREFIX=/usr puts the command in /usr/bin
#   make uninstall-gateway   the service and venv (says what it kept); purge-gateway: all of it
#   make install-broker-config  Mosquitto on this machine: conf.d/outpost.conf, then restart it
#   make test-gateway        the gateway's tests only
#   make bench-gateway       the gateway benchmarks (print figures)

DESTDIR        ?=
PREFIX         ?= /usr/local
GATEWAY_PREFIX ?= /opt/outpost-gateway
GATEWAY_ETC    ?= /etc/outpost-gateway
GATEWAY_UNIT   ?= /etc/systemd/system/outpost-gateway.service
GATEWAY_STATE  ?= /var/lib/outpost-gateway
GATEWAY_BIN    ?= $(PREFIX)/bin
GATEWAY_USER   ?= outpost
# extra arguments for pip (e.g. --no-index --find-links <wheels> on a Pi without internet)
GATEWAY_PIP    ?=
SYSTEM_PYTHON  ?= python3
MOSQUITTO_CONFD   ?= /etc/mosquitto/conf.d
MOSQUITTO_RESTART ?= yes
# systemd as PID 1? Not in a container, a chroot or an SD card prepared before its first boot:
# then the unit is installed but not loaded, and the next steps say how to start by hand.
SYSTEMD ?= $(shell test -d /run/systemd/system && echo yes || echo no)

.PHONY: install-gateway install-broker-config uninstall-gateway purge-gateway test-gateway bench-gateway

# what the unit says about the folders: systemd makes StateDirectory=/ConfigurationDirectory=
# only under /var/lib and /etc; a folder elsewhere is made by install and, for the state,
# opened for writing under ProtectSystem=strict with ReadWritePaths=
UNIT_STATE := $(if $(filter /var/lib/%,$(GATEWAY_STATE)),-e 's|^StateDirectory=.*|StateDirectory=$(patsubst /var/lib/%,%,$(GATEWAY_STATE))|',-e 's|^StateDirectory=.*|ReadWritePaths=$(GATEWAY_STATE)|' -e '/^StateDirectoryMode=/d' -e 's|^\# Creates /var/lib/outpost-gateway owned by the service user: the spool lives here.|\# The spool lives here (made 0700 by make install-gateway); writable under ProtectSystem=strict.|' -e '/^\# Nobody else may read the spool/d')
UNIT_ETC   := $(if $(filter /etc/%,$(GATEWAY_ETC)),-e 's|^ConfigurationDirectory=.*|ConfigurationDirectory=$(patsubst /etc/%,%,$(GATEWAY_ETC))|',-e '/^ConfigurationDirectory=/d' -e 's|^\# Config (with secrets) is read from here;.*|\# Config (with secrets) is read from $(GATEWAY_ETC), made by make install-gateway.|')
# as root on the machine itself: the service user, ownership, systemd; under DESTDIR: none
LIVE := $(if $(DESTDIR),no,yes)

## install the gateway as a service (run as root on the Pi; works without systemd running too)
install-gateway: install-broker-config
	$(SYSTEM_PYTHON) -m venv $(DESTDIR)$(GATEWAY_PREFIX)
	$(DESTDIR)$(GATEWAY_PREFIX)/bin/pip install --upgrade $(GATEWAY_PIP) .
	@# a venv made under DESTDIR names that path in its scripts: they must name the final one
	$(if $(DESTDIR),grep -rlI -- '$(DESTDIR)' $(DESTDIR)$(GATEWAY_PREFIX)/bin $(DESTDIR)$(GATEWAY_PREFIX)/pyvenv.cfg | xargs -r sed -i 's|$(DESTDIR)||g')
	cp host/README.md $(DESTDIR)$(GATEWAY_PREFIX)/README.md
	install -d $(DESTDIR)$(GATEWAY_BIN)
	ln -sf $(GATEWAY_PREFIX)/bin/outpost-gateway $(DESTDIR)$(GATEWAY_BIN)/outpost-gateway
	@# a user made here is remembered, so purge-gateway removes only what install made
	$(if $(filter yes,$(LIVE)),id -u $(GATEWAY_USER) >/dev/null 2>&1 || { useradd --system --user-group --home-dir $(GATEWAY_STATE) \
		--no-create-home --shell /usr/sbin/nologin \
		$$(getent group dialout >/dev/null && echo --groups dialout) $(GATEWAY_USER) && \
		install -d $(GATEWAY_ETC) && echo $(GATEWAY_USER) > $(GATEWAY_ETC)/.user-made-by-install; })
	install -d -m 0750 $(if $(filter yes,$(LIVE)),-o root -g $(GATEWAY_USER)) $(DESTDIR)$(GATEWAY_ETC)
	@if [ -e $(DESTDIR)$(GATEWAY_ETC)/gateway.toml ]; then echo "kept your $(DESTDIR)$(GATEWAY_ETC)/gateway.toml"; else \
	  sed 's|^state_dir = .*|state_dir = "$(GATEWAY_STATE)"|' host/gateway.example.toml > $(DESTDIR)$(GATEWAY_ETC)/gateway.toml.tmp && \
	  $(if $(filter yes,$(LIVE)),chown root:$(GATEWAY_USER) $(DESTDIR)$(GATEWAY_ETC)/gateway.toml.tmp &&) chmod 0640 $(DESTDIR)$(GATEWAY_ETC)/gateway.toml.tmp && \
	  mv $(DESTDIR)$(GATEWAY_ETC)/gateway.toml.tmp $(DESTDIR)$(GATEWAY_ETC)/gateway.toml && echo "installed $(DESTDIR)$(GATEWAY_ETC)/gateway.toml"; fi
	@# the state folder as the unit's StateDirectory would make it: the service user's, 0700
	install -d -m 0700 $(if $(filter yes,$(LIVE)),-o $(GATEWAY_USER) -g $(GATEWAY_USER)) $(DESTDIR)$(GATEWAY_STATE)
	install -d $(dir $(DESTDIR)$(GATEWAY_UNIT))
	sed -e 's|/opt/outpost-gateway|$(GATEWAY_PREFIX)|g' -e 's|/etc/outpost-gateway|$(GATEWAY_ETC)|g' \
		-e 's|^User=.*|User=$(GATEWAY_USER)|' -e 's|^Group=.*|Group=$(GATEWAY_USER)|' \
		$(UNIT_STATE) $(UNIT_ETC) host/outpost-gateway.service > $(DESTDIR)$(GATEWAY_UNIT)
	chmod 0644 $(DESTDIR)$(GATEWAY_UNIT)
	@if [ -n "$(DESTDIR)" ]; then echo "staged under $(DESTDIR): the package's install script makes user $(GATEWAY_USER) (group dialout), chowns $(GATEWAY_ETC) (root:$(GATEWAY_USER)) and $(GATEWAY_STATE) ($(GATEWAY_USER), 0700) and reloads systemd"; \
	elif [ "$(SYSTEMD)" = yes ]; then systemctl daemon-reload && echo "installed and loaded $(GATEWAY_UNIT)"; \
	else echo "installed $(GATEWAY_UNIT) but did not load it: systemd is not running here (a container, a chroot, or before first boot); it is read at the next boot"; fi
	@echo
	@echo "next steps:"
	@echo "  1. edit $(GATEWAY_ETC)/gateway.toml (relay.host, relay.sender, routing.default, ...)"
	@echo "  2. outpost-gateway check-config -c $(GATEWAY_ETC)/gateway.toml"
	@echo "  3. outpost-gateway send-test -c $(GATEWAY_ETC)/gateway.toml"
	@if [ "$(SYSTEMD)" = yes ]; then echo "  4. systemctl enable --now outpost-gateway"; \
	else echo "  4. with systemd (after boot): systemctl enable --now outpost-gateway"; \
	echo "     without it: runuser -u $(GATEWAY_USER) -- $(GATEWAY_PREFIX)/bin/python -m outpost_gateway run -c $(GATEWAY_ETC)/gateway.toml"; fi

## the broker settings the gateway needs (queue limits, persistence; listeners commented out),
## when Mosquitto is installed on this machine. An edited copy is kept (the shipped one goes
## next to it as outpost.conf.new, which Mosquitto does not read). Mosquitto is restarted when it
## runs, with systemd or a SysV init script; MOSQUITTO_RESTART=no leaves that to you.
install-broker-config:
	@if [ -n "$(DESTDIR)" ]; then \
	  install -D -m 0644 host/mosquitto/outpost.conf $(DESTDIR)$(MOSQUITTO_CONFD)/outpost.conf; \
	  echo "staged $(DESTDIR)$(MOSQUITTO_CONFD)/outpost.conf (Mosquitto reads it after its next restart)"; exit 0; fi; \
	if [ ! -d $(MOSQUITTO_CONFD) ]; then \
	  echo "no $(MOSQUITTO_CONFD): Mosquitto is not installed here; give your broker the settings of host/mosquitto/outpost.conf"; \
	  exit 0; fi; \
	dest=$(MOSQUITTO_CONFD)/outpost.conf; \
	if [ -e $$dest ] && ! cmp -s host/mosquitto/outpost.conf $$dest; then \
	  install -m 0644 host/mosquitto/outpost.conf $$dest.new; \
	  echo "kept your edited $$dest; the shipped version is $$dest.new"; \
	else \
	  install -m 0644 host/mosquitto/outpost.conf $$dest; echo "installed $$dest"; \
	fi; \
	if [ "$(MOSQUITTO_RESTART)" != yes ]; then echo "restart Mosquitto to apply it"; \
	elif [ -d /run/systemd/system ]; then systemctl try-restart mosquitto.service && echo "Mosquitto restarted (if it was running)"; \
	elif [ -x /etc/init.d/mosquitto ]; then \
	  if /etc/init.d/mosquitto status >/dev/null 2>&1; then /etc/init.d/mosquitto restart; else echo "Mosquitto is not running; it reads the settings when it starts"; fi; \
	else echo "restart Mosquitto to apply it"; fi

## remove the service and its venv; keeps (and names) the config, the spool and the user
uninstall-gateway:
	@if [ -z "$(DESTDIR)" ] && [ "$(SYSTEMD)" = yes ]; then systemctl disable --now outpost-gateway || true; \
	elif [ -z "$(DESTDIR)" ]; then echo "systemd is not running here: stop a gateway started by hand yourself (kill -TERM <pid>)"; fi
	rm -f $(DESTDIR)$(GATEWAY_UNIT) $(DESTDIR)$(GATEWAY_BIN)/outpost-gateway
	rm -rf $(DESTDIR)$(GATEWAY_PREFIX)
	@if [ -z "$(DESTDIR)" ] && [ "$(SYSTEMD)" = yes ]; then systemctl daemon-reload; fi
	@echo "removed the unit, the command and $(DESTDIR)$(GATEWAY_PREFIX); kept:"
	@echo "  config (with the relay password): $(DESTDIR)$(GATEWAY_ETC)"
	@echo "  spool (undelivered alerts too):  $(DESTDIR)$(GATEWAY_STATE)"
	@echo "  user: $(GATEWAY_USER)"
	@echo "  Mosquitto settings: $(DESTDIR)$(MOSQUITTO_CONFD)/outpost.conf"
	@echo "make purge-gateway removes those as well"

## uninstall, then remove what install added: the config, the spool, the service user (when
## install made it) and the Mosquitto settings (unless edited); says what it kept and why
purge-gateway: uninstall-gateway
	@if [ -z "$(DESTDIR)" ] && id -u $(GATEWAY_USER) >/dev/null 2>&1; then \
	  if [ "$$(cat $(GATEWAY_ETC)/.user-made-by-install 2>/dev/null)" = "$(GATEWAY_USER)" ]; then \
	    userdel $(GATEWAY_USER) && echo "removed user $(GATEWAY_USER)"; \
	  else echo "kept user $(GATEWAY_USER): it was there before make install-gateway"; fi; fi
	rm -rf $(DESTDIR)$(GATEWAY_ETC) $(DESTDIR)$(GATEWAY_STATE)
	@echo "purged the config ($(DESTDIR)$(GATEWAY_ETC)) and the spool ($(DESTDIR)$(GATEWAY_STATE))"
	@dest=$(DESTDIR)$(MOSQUITTO_CONFD)/outpost.conf; rm -f $$dest.new; \
	if [ ! -e $$dest ]; then :; \
	elif cmp -s host/mosquitto/outpost.conf $$dest; then rm -f $$dest && \
	  echo "removed $$dest (restart Mosquitto to drop its settings)"; \
	else echo "kept $$dest: you edited it (remove it yourself, then restart Mosquitto)"; fi

test-gateway: setup-py
	$(PY) -m pytest tests/host -q $(ARGS)

bench-gateway: setup-py
	$(PY) bench/gateway_accept.py
	$(PY) bench/gateway_drain.py
	$(PY) bench/gateway_latency.py
	$(PY) bench/gateway_memory.py
	$(PY) bench/gateway_crash.py
	$(PY) bench/gateway_soak.py
	$(PY) bench/gateway_page.py
