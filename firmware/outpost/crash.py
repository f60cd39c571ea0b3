# Whose fault was the last reset? Only a reset the firmware can blame on what it was doing
# counts against the alert being sent: the watchdog's, or main.py's reset after an exception
# (main.py leaves MARK first). A power cut or a brown-out is nobody's fault (ESP32's
# reset_cause() says PWRON_RESET for both). And the plain form an alert set aside goes out in.
MARK = "reset.exc"
KEEP_BODY = 1500        # characters of the body the plain form keeps


def blamed(machine, mark):
    """True when the reset that started this boot was the firmware's doing; removes `mark`."""
    import os
    try:
        os.remove(mark)
        return True
    except OSError:
        pass
    return machine.reset_cause() == machine.WDT_RESET


def plain(rec, why):
    """The record in its smallest form: no readings, the body cut short and told why; sent
    with no CSV, so no attachment and no chart."""
    r = dict(rec)
    r.pop("readings", None)
    body = r.get("body") or ""
    if len(body) > KEEP_BODY:
        body = body[:KEEP_BODY] + "\n[...]"
    r["body"] = (body + "\n\n" if body else "") + "(plain form: " + why + ")"
    return r
