# How the firmware hands control back to the harness. BaseException subclasses, so the
# firmware's `except Exception` cannot swallow them (on a real board these do not return).


class BoardReset(BaseException):
    def __init__(self, cause):
        BaseException.__init__(self, cause)
        self.cause = cause


class DeepSleep(BaseException):
    def __init__(self, ms):
        BaseException.__init__(self, ms)
        self.ms = ms
