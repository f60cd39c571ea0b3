"""Real protocol peers for tests, all on 127.0.0.1 with free ports.

certs.TestCA (trustme CA), smtpd.MailServer (aiosmtpd, TLS/AUTH/BDAT/failure hooks),
mosquitto.Mosquitto (MQTT broker process), smtpsink.SmtpSink (Postfix smtp-sink process),
rttproxy.RttProxy (TCP proxy adding a round-trip delay).
"""
