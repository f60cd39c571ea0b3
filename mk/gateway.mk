# Gateway targets (included by the main Makefile).
#   make install-gateway     on a Raspberry Pi, as root: venv in /opt, user, unit, config
#                            (first the step below)
#   make install-broker-config  Mosquitto on this machine: conf.d/outpost.conf, then restart it
#   make test-gateway        the gateway's tests only
#   make bench-gateway       the gateway benchmarks (print figures)

GATEWAY_PREFIX ?= /opt/outpost-gateway
GATEWAY_ETC    ?= /etc/outpost-gateway
GATEWAY_UNIT   ?= /etc/systemd/system/outpost-gateway.service
GATEWAY_USER   ?= outpost
SYSTEM_PYTHON  ?= python3
MOSQUITTO_CONFD   ?= /etc/mosquitto/conf.d
MOSQUITTO_RESTART ?= yes

.PHONY: install-gateway install-broker-config uninstall-gateway test-gateway bench-gateway

## install the gateway as a systemd service (run as root on the Pi)
install-gateway: install-broker-config
	$(SYSTEM_PYTHON) -m venv $(GATEWAY_PREFIX)
	$(GATEWAY_PREFIX)/bin/pip install --upgrade .
	cp host/README.md $(GATEWAY_PREFIX)/README.md
	ln -sf $(GATEWAY_PREFIX)/bin/outpost-gateway /usr/local/bin/outpost-gateway
	id -u $(GATEWAY_USER) >/dev/null 2>&1 || useradd --system --home-dir /var/lib/outpost-gateway \
		--shell /usr/sbin/nologin --groups dialout $(GATEWAY_USER)
	install -d -m 0750 -o root -g $(GATEWAY_USER) $(GATEWAY_ETC)
	test -e $(GATEWAY_ETC)/gateway.toml || \
		install -m 0640 -o root -g $(GATEWAY_USER) host/gateway.example.toml $(GATEWAY_ETC)/gateway.toml
	install -m 0644 host/outpost-gateway.service $(GATEWAY_UNIT)
	systemctl daemon-reload
	@echo "edit $(GATEWAY_ETC)/gateway.toml, then: outpost-gateway check-config -c $(GATEWAY_ETC)/gateway.toml"
	@echo "and: systemctl enable --now outpost-gateway"

## the broker settings the gateway needs (queue limits, persistence; listeners commented out),
## when Mosquitto is installed on this machine. An edited copy is kept (the shipped one goes
## next to it as outpost.conf.new, which Mosquitto does not read). Mosquitto is restarted when it
## runs, with systemd or a SysV init script; MOSQUITTO_RESTART=no leaves that to you.
install-broker-config:
	@if [ ! -d $(MOSQUITTO_CONFD) ]; then \
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

## remove the service and its venv (keeps the config and the spool)
uninstall-gateway:
	-systemctl disable --now outpost-gateway
	rm -f $(GATEWAY_UNIT) /usr/local/bin/outpost-gateway
	rm -rf $(GATEWAY_PREFIX)
	systemctl daemon-reload

test-gateway: setup-py
	$(PY) -m pytest tests/host -q $(ARGS)

bench-gateway: setup-py
	$(PY) bench/gateway_accept.py
	$(PY) bench/gateway_drain.py
	$(PY) bench/gateway_latency.py
	$(PY) bench/gateway_memory.py
