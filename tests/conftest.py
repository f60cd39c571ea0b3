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


def _shared_modules():
    return {n: m for n, m in sys.modules.items() if n.split(".")[0] in _SHARED}


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _keep_shared_modules():
    # The firmware unloads usmtp after its SMTP step to give the heap back (transport.unload),
    # and the emulated board runs that firmware in this process: put the modules every test
    # imported back afterwards, so no test meets a second copy of usmtp.errors' classes.
    saved = _shared_modules()
    yield
    for n in list(_shared_modules()):
        if n not in saved:
            del sys.modules[n]
    sys.modules.update(saved)
    for n, m in saved.items():
        parent, _, child = n.rpartition(".")
        if parent in saved:
            setattr(saved[parent], child, m)


def _printable(text):
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(text, str) else text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A test's captured output may hold a lone surrogate (the hostile-input tests log one):
    # pytest-xdist sends each report to the controller as UTF-8, which cannot carry it and
    # ends the worker. Show it escaped instead.
    outcome = yield
    report = outcome.get_result()
    report.sections = [(_printable(k), _printable(v)) for k, v in report.sections]


def pytest_collection_modifyitems(session, config, items):
    # tests marked slow start first: spread over pytest-xdist workers, the long waits then
    # overlap with everything else instead of starting last and running on alone
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def broker():
    # a real Mosquitto on a free loopback port, its own config and persistence (tests/peers)
    from peers.mosquitto import Mosquitto
    with Mosquitto() as b:
        yield b
