# Outpost gateway: takes alerts from boards (MQTT, USB serial, LAN SMTP), stores each durably
# before acknowledging it, relays them upstream through usmtp, and watches for silent boards.
__version__ = "0.1.0"
