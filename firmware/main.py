# Start the app. A crash is printed and the board reset: a clean start beats a hung board.
# Ctrl-C (KeyboardInterrupt) is not caught, so a developer lands at the REPL.
try:
    from outpost.app import main
    main()
except Exception as e:
    import sys
    import time
    sys.print_exception(e)
    time.sleep(5)  # time to read the console before the reset
    import machine
    machine.reset()
