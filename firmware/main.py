# Start the app. A crash is printed and the board reset: a clean start beats a hung board.
# Ctrl-C (KeyboardInterrupt) is not caught, so a developer lands at the REPL.
try:
    import board
    import machine
    import os
    root = getattr(board, "FS_ROOT", "")
    try:
        # a send wake first, when the app left an alert for one (outpost/smtp_path.py's
        # SEND_FILE): the SMTP step with nothing else in the heap (outpost/sendwake.py)
        os.stat(root + "/mail.go" if root else "mail.go")
        go = True
    except OSError:
        # after a reset or at power-on, sendwake is imported all the same: the names it
        # interns (they stay in the heap after it goes) grow the name pool here, in a fresh
        # heap, for the alerts this boot may have waiting. A wake from deep sleep leaves that
        # to the app, which it reaches only with work to do (outpost/quiet.py)
        go = machine.reset_cause() != machine.DEEPSLEEP_RESET
    if go:
        from outpost import sendwake
        if sendwake.run(root):
            # the alert went out: the app starts again from a fresh heap (what the send left
            # behind would split it), with its state from RTC memory
            machine.deepsleep(1)
        sendwake = None
        from outpost import unload
        unload("outpost.sendwake")
        unload("outpost.smtp_path")
        unload = None
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
