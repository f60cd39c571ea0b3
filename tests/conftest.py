"""pytest setup shared by every test folder.

Puts lib/, firmware/ and tests/ on sys.path, as the MicroPython lane does on the VM, so
`import usmtp`, `from outpost_contract import record` and `from tinytest import raises` work the same on both.
boards/emulated is deliberately not added here: the tests that run the emulated board add it
themselves, so CPython stand-ins for `machine` and `network` never leak into other tests.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

for _sub in ("tests", "firmware", "lib"):
    _path = os.path.join(ROOT, _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)


def pytest_collect_file(file_path, parent):
    # A test file may import helpers from its own folder (the VM lane allows it too); with
    # --import-mode=importlib pytest does not put that folder on sys.path, so do it here.
    if file_path.suffix == ".py" and file_path.name.startswith("test_"):
        folder = str(file_path.parent)
        if folder not in sys.path:
            sys.path.append(folder)
    return None


_SHARED = ("usmtp", "outpost_contract")


def _shared(name):
    return name.split(".", 1)[0] in _SHARED


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _one_copy_of_the_shared_modules():
    # The firmware unloads usmtp and outpost_contract.mail after its SMTP step (a board needs
    # that heap back). In one pytest process that would leave later tests holding a second copy
    # of those modules, whose exception classes the first copy's `except` does not match.
    saved = {k: v for k, v in sys.modules.items() if _shared(k)}
    yield
    for k in [k for k in sys.modules if _shared(k) and k not in saved]:
        del sys.modules[k]
    sys.modules.update(saved)
