# Espressif ESP32-C3-DevKitM-1. MicroPython: ESP32_GENERIC_C3.
# GPIO 2, 8 and 9 are strapping pins; GPIO 18/19 are USB; the RGB LED is a WS2812 on GPIO 8.
BOARD = {
    "name": "esp32_c3",
    "mcu": "ESP32-C3 (RISC-V single core, 400 KB SRAM)",
    "port": "esp32",
    "pins": {
        "i2c_sda": 4, "i2c_scl": 5,
        "dht22": 7,
        "door": 10,
        "battery_adc": 3,                      # ADC1_CH3 behind a 100k/100k divider
        "gateway_uart": 1, "gateway_tx": 0, "gateway_rx": 1,
        "led": 8,
    },
    # usable GPIOs (12-17 wire the flash; 18/19 are the USB port), ADC1 on 0-4
    "gpio": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21),
    "uarts": (1,),  # free for the gateway (UART 0 is the console)
    "adc": (0, 1, 2, 3, 4),
    "led": 8,
    "led_type": "neopixel",
    "sensors": [
        {"name": "mcu", "type": "internal_temp"},
        {"name": "shed", "type": "dht22", "pin": 7},
        {"name": "door", "type": "digital", "pin": 10, "pull": "up", "invert": True},
    ],
    "serial": {"uart": 1, "tx": 0, "rx": 1},
}
FS_ROOT = ""
