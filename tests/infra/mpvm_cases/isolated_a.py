# lane: micropython
# Fixture pair: isolated_a changes shared module state; isolated_b must not see it.
import shared_state


def test_mutate():
    shared_state.VALUE = -1
    assert shared_state.VALUE == -1
