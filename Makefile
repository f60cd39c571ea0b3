# Outpost: `make test` runs every test lane, `make demo` the main job on embedded defaults.
# Works on a fresh Debian 12 (Python 3.11, Node 20); .ci/run installs the system packages first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
NODE   ?= node
NPM    ?= npm
MPVM   := tests/mpvm

# stamps record what was installed from which file, so a change to it reinstalls
PY_STAMP   := $(VENV)/.outpost-installed
DEMO_STAMP := $(VENV)/.outpost-demo-installed
NODE_STAMP := $(MPVM)/node_modules/.outpost-installed
PYPROJECT  := $(wildcard pyproject.toml)

# extra arguments for one lane, e.g. make test-py ARGS="tests/usmtp -k starttls"
ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK = 1

KEEP ?=

.PHONY: test test-py test-mp test-realmp test-mpy demo demo-deps setup setup-py setup-node clean-env

## every lane (pytest, the MicroPython VM, the mpy-cross check); fails if any lane fails or runs no test
test: setup
	$(PY) tools/run_lanes.py

test-py: setup-py
	$(PY) tools/run_lanes.py pytest $(if $(ARGS),-- $(ARGS))

test-mp: setup
	$(PY) tools/run_lanes.py micropython $(if $(ARGS),-- $(ARGS))

test-realmp: setup-py
	$(PY) tools/run_lanes.py realmp $(if $(ARGS),-- $(ARGS))

test-mpy: setup-py
	$(PY) tools/run_lanes.py mpy $(if $(ARGS),-- $(ARGS))

## the demo installs only what it runs (requirements-demo.txt), not the test lanes' packages;
## KEEP=1 keeps its temporary folder (configs, the relay password, the spool) and says where
demo: $(DEMO_STAMP) demo-deps
	KEEP=$(KEEP) $(PY) demo/run.py

$(DEMO_STAMP): requirements-demo.txt | $(PY)
	$(PIP) install -r requirements-demo.txt
	touch $@

# the demo runs a real MQTT broker: install Mosquitto when it is missing (as root), else say how
demo-deps:
	@test -x /usr/sbin/mosquitto || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto \
	    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto; }; \
	  else echo "make demo needs Mosquitto: sudo apt-get install mosquitto"; exit 1; fi; }

setup: setup-py setup-node
setup-py: $(PY_STAMP)
setup-node: $(NODE_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): requirements-test.txt $(PYPROJECT) tools/fetch_umqtt.py | $(PY)
	$(PIP) install -r requirements-test.txt
	$(if $(PYPROJECT),$(PIP) install -e .)
	$(PY) tools/fetch_umqtt.py $(VENV)/mp-lib
	touch $@

$(NODE_STAMP): $(MPVM)/package.json $(MPVM)/package-lock.json
	cd $(MPVM) && $(NPM) ci --no-audit --no-fund
	touch $@

## remove the virtual environment and the npm packages (the next make reinstalls them)
clean-env:
	rm -rf $(VENV) $(MPVM)/node_modules

# other parts of the project add their targets here (mk/board.mk, mk/gateway.mk, ...)
-include mk/*.mk
