# Espressif ESP32-S3-DevKitC-1 (N8R2/N8R8). MicroPython: ESP32_GENERIC_S3 (SPIRAM variant for R8).
# The on-board RGB LED is a WS2812 on GPIO 48 (38 on v1.1 boards); ADC1 is GPIO 1-10.
BOARD = {
    "name": "esp32_s3",
    "mcu": "ESP32-S3 (Xtensa LX7 dual core, 512 KB SRAM, optional PSRAM)",
    "port": "esp32",
    "pins": {
        "i2c_sda": 8, "i2c_scl": 9,
        "dht22": 5,
        "door": 6,
        "battery_adc": 4,                      # ADC1_CH3 behind a 100k/100k divider
        "gateway_uart": 1, "gateway_tx": 17, "gateway_rx": 18,
        "led": 48,
    },
    # usable GPIOs (26-32 wire the flash and PSRAM; 19/20 are the USB port), ADC1 on 1-10
    "gpio": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21, 33, 34, 35,
             36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48),
    "uarts": (1, 2),  # free for the gateway (UART 0 is the console)
    "adc": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
    "led": 48,
    "led_type": "neopixel",
    "sensors": [
        {"name": "mcu", "type": "internal_temp"},
        {"name": "freezer", "type": "bme280", "scl": 9, "sda": 8, "addr": 0x76},
        {"name": "door", "type": "digital", "pin": 6, "pull": "up", "invert": True},
    ],
    "serial": {"uart": 1, "tx": 17, "rx": 18},
}
FS_ROOT = ""
