# Gateway targets (included by the main Makefile).
#   make install-gateway     on a Raspberry Pi, as root: venv in /opt, user, unit, config
#   make test-gateway        the gateway's tests only
#   make bench-gateway       the gateway benchmarks (print figures)

GATEWAY_PREFIX ?= /opt/outpost-gateway
GATEWAY_ETC    ?= /etc/outpost-gateway
GATEWAY_UNIT   ?= /etc/systemd/system/outpost-gateway.service
GATEWAY_USER   ?= outpost
SYSTEM_PYTHON  ?= python3

.PHONY: install-gateway uninstall-gateway test-gateway bench-gateway

## install the gateway as a systemd service (run as root on the Pi)
install-gateway:
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
