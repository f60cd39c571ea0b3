# lane: micropython
import shared_state


def test_fresh_module():
    assert shared_state.VALUE == 42, shared_state.VALUE
