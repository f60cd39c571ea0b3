"""make demo: Outpost on embedded defaults, on this machine.

1. usmtp on its own: one report over STARTTLS + AUTH, with the protocol trace.
2. The system: two emulated boards (the unchanged firmware), the gateway, Mosquitto and a
   mail catcher standing in for your mail provider.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "lib"), HERE]

import system        # noqa: E402
import usmtp_trace   # noqa: E402


def main():
    print("######## 1. usmtp: one report, the whole SMTP dialogue\n")
    rc = usmtp_trace.main()
    if rc:
        return rc
    print("\n######## 2. boards, gateway and inbox\n")
    return system.main()


if __name__ == "__main__":
    sys.exit(main())
