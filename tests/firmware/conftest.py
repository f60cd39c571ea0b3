# Fixtures of the firmware tests that run the emulated board against real peers.
import pytest


@pytest.fixture
def reader(broker):
    # the test's own subscriber to outpost/# on the broker (tests/conftest.py); mqtt_reader
    # sits beside the test files, on sys.path once they are collected
    from mqtt_reader import MqttReader
    r = MqttReader(broker.host, broker.port)
    yield r
    r.close()
