# Raspberry Pi Pico W (RP2040 + CYW43439 Wi-Fi). MicroPython: RPI_PICO_W (UF2).
# The LED hangs off the Wi-Fi chip: Pin("LED"). GP23-25 and GP29 are used by the Wi-Fi chip,
# so the battery divider goes on GP26 (ADC0). The MCU temperature is ADC channel 4.
BOARD = {
    "name": "pico_w",
    "mcu": "RP2040 (dual Cortex-M0+, 264 KB SRAM) with CYW43439",
    "port": "rp2",
    "pins": {
        "i2c_sda": 4, "i2c_scl": 5,
        "dht22": 16,
        "door": 15,
        "battery_adc": 26,
        "gateway_uart": 0, "gateway_tx": 0, "gateway_rx": 1,
        "led": "LED",
    },
    # GP0-22 and 26-28 (23-25 and 29 belong to the radio), ADC on 26-28
    "gpio": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
             26, 27, 28),
    "uarts": (0, 1),  # free for the gateway (the console is USB)
    "adc": (26, 27, 28),
    "led": "LED",
    "sensors": [
        {"name": "mcu", "type": "internal_temp"},
        {"name": "freezer", "type": "bme280", "scl": 5, "sda": 4, "addr": 0x76},
        {"name": "door", "type": "digital", "pin": 15, "pull": "up", "invert": True},
    ],
    "serial": {"uart": 0, "tx": 0, "rx": 1},
    # the RP2040 watchdog cannot wait longer; keep smtp/mqtt/serial timeouts below it
    "wdt_max_ms": 8300,
}
FS_ROOT = ""
