# Start the app. A crash is printed and the board reset: a clean start beats a hung board.
# Ctrl-C (KeyboardInterrupt) is not caught, so a developer lands at the REPL.
try:
    # a send wake first (outpost/sendwake.py): the SMTP step with nothing else in the heap
    from outpost import sendwake
    if sendwake.run(getattr(__import__("board"), "FS_ROOT", "")):
        from outpost.smtp_path import unload
        unload("outpost")           # the app loads afresh into the heap the send gave back
        unload("outpost_contract")
        unload = None
        import gc
        gc.collect()
    sendwake = None
    from outpost.app import main
    main()
except Exception as e:
    import sys
    import time
    sys.print_exception(e)
    time.sleep(5)  # time to read the console before the reset
    import machine
    machine.reset()
