# lane: micropython
# Fixture: a test that never returns; the runner's per-file timeout must end it.


def test_forever():
    while True:
        pass
