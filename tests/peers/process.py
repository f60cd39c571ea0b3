"""What the peers that run a program (Mosquitto, Postfix's smtp-sink) share: reading its log,
and ending it."""
import signal
import subprocess


def read_log(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return "(no log)"


def end(proc, sig=signal.SIGKILL, timeout=15):
    """Send sig to a running proc and wait for it; SIGKILL if it outlives the timeout."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
