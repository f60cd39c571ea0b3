# DKIM signing for direct delivery (the only module that imports dkimpy).
import dkim


class Signer:
    def __init__(self, selector, domain, key_file):
        with open(key_file, "rb") as f:
            self.key = f.read()
        self.selector = selector.encode()
        self.domain = domain.encode()

    def sign(self, message):
        # -> the message with its DKIM-Signature header in front
        sig = dkim.sign(message, self.selector, self.domain, self.key,
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        return sig + message
