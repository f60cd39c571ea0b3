# Start the app. A crash is printed and the board reset: a clean start beats a hung board.
# Ctrl-C (KeyboardInterrupt) is not caught, so a developer lands at the REPL.
try:
    import board
    # a send wake first (outpost/sendwake.py): the SMTP step with nothing else in the heap,
    # loaded only when the app left it an alert (mail.go, outpost/smtp_path.py's SEND_FILE):
    # a quiet wake does not intern its names
    r = getattr(board, "FS_ROOT", "")
    try:
        open(r + "/mail.go" if r else "mail.go").close()
        from outpost import sendwake
    except OSError:
        sendwake = None
    if sendwake is not None:
        if sendwake.run(r):
            # the alert went out in a send wake: the app starts again from a fresh heap (what
            # the send left behind would split it), with its state from RTC memory
            import machine
            machine.deepsleep(1)
        sendwake = None
        from outpost import unload
        unload("outpost.sendwake")
        unload("outpost.smtp_path")
        unload = None
    import machine
    import time
    from outpost.run import main
    main(board, machine, time)   # the hardware and the clock are handed in
except Exception as e:
    import sys
    import time
    sys.print_exception(e)
    try:
        # this reset is the firmware's fault: the app counts it against an alert being sent
        # (outpost/crash.py), which a power cut is not
        r = getattr(__import__("board"), "FS_ROOT", "")
        open(r + "/reset.exc" if r else "reset.exc", "w").close()
    except Exception:
        pass
    time.sleep(5)  # time to read the console before the reset
    import machine
    machine.reset()
