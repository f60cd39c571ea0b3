# lane: micropython
# Fixture: importing this file fails, which must fail the lane.
import no_such_module_anywhere


def test_never_runs():
    pass
