# Espressif ESP32-DevKitC (ESP32-WROOM-32, 4 MB flash). MicroPython: ESP32_GENERIC.
# ADC2 pins do not work while Wi-Fi is on: analog inputs use ADC1 (GPIO 32-39).
# GPIO 6-11 belong to the flash chip; UART0 (GPIO 1/3) is the USB console.
BOARD = {
    "name": "esp32_devkitc",
    "mcu": "ESP32 (Xtensa LX6 dual core, 520 KB SRAM)",
    "port": "esp32",
    "pins": {
        "i2c_sda": 21, "i2c_scl": 22,          # BME280
        "dht22": 4,                            # DHT22 data, 10 k pull-up to 3V3
        "door": 27,                            # reed switch to GND, internal pull-up
        "battery_adc": 34,                     # ADC1_CH6 behind a 100k/100k divider
        "gateway_uart": 2, "gateway_tx": 17, "gateway_rx": 16,
        "led": 2,                              # external LED + 330 R to GND (no user LED fitted)
    },
    # usable GPIOs (6-11 wire the flash), ADC1 (ADC2 stops with Wi-Fi), input-only 34-39
    "gpio": (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33,
             34, 35, 36, 37, 38, 39),
    "uarts": (1, 2),  # free for the gateway (UART 0 is the USB console)
    "adc": (32, 33, 34, 35, 36, 37, 38, 39),
    "input_only": (34, 35, 36, 37, 38, 39),
    "led": 2,
    "led_invert": False,
    # fitted sensors, used when the config says "sensors": None
    "sensors": [
        {"name": "freezer", "type": "bme280", "scl": 22, "sda": 21, "addr": 0x76},
        {"name": "door", "type": "digital", "pin": 27, "pull": "up", "invert": True},
        {"name": "battery", "type": "adc", "pin": 34, "r1": 100000, "r2": 100000},
    ],
    "serial": {"uart": 2, "tx": 17, "rx": 16},
}
FS_ROOT = ""
