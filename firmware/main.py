# Start the app. A crash is printed and the board reset: a clean start beats a hung board.
# Ctrl-C (KeyboardInterrupt) is not caught, so a developer lands at the REPL.
try:
    import board
    # a send wake first (outpost/sendwake.py): the SMTP step with nothing else in the heap.
    # Imported in every wake, even with no mail.go: the names it interns (they stay in the
    # heap after it is unloaded) grow the name pool here, in a fresh heap. Skipped, the pool
    # grew later, in the alert's step, in a split heap: a send-wake board failed at 128k.
    from outpost import sendwake
    if sendwake.run(getattr(board, "FS_ROOT", "")):
        # the alert went out in a send wake: the app starts again from a fresh heap (what the
        # send left behind would split it), with its state from RTC memory
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
