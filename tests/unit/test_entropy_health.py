"""SP 800-90B health tests (the device module, run here on CPython; on the VM in tests/device)."""

import os

import pytest

from dtanode import entropy


def test_uniform_bytes_pass():
    h = entropy.HealthTests()
    h.feed(os.urandom(65536))
    assert h.failure is None


def test_repetition_count_trips_at_cutoff():
    h = entropy.HealthTests()
    h.feed(bytes([1, 2, 3]) + bytes([9] * (entropy.RCT_CUTOFF - 1)))
    assert h.failure is None
    with pytest.raises(entropy.EntropyError, match="repetition count"):
        h.feed(bytes([9]))


def test_adaptive_proportion_trips_on_bias():
    # Every 8th byte equals the window's first sample: 64 matches per 512 > cutoff 25,
    # while no run is long enough for the repetition count test.
    data = bytearray(os.urandom(entropy.APT_WINDOW))
    for i in range(0, len(data), 8):
        data[i] = 0xA5
    data = bytes(b if i % 8 == 0 or b != 0xA5 else 0x5A for i, b in enumerate(data))
    h = entropy.HealthTests()
    with pytest.raises(entropy.EntropyError, match="adaptive proportion"):
        h.feed(data)


def test_failure_latches():
    src = entropy.Source(lambda n: bytes(n), "zeros")
    with pytest.raises(entropy.EntropyError):
        src.startup()
    with pytest.raises(entropy.EntropyError):
        src.raw(1)


def test_short_read_is_a_failure():
    src = entropy.Source(lambda n: b"\x01", "short")
    with pytest.raises(entropy.EntropyError, match="returned 1 of"):
        src.raw(4)


def test_secret_is_conditioned_and_distinct():
    src = entropy.Source(os.urandom, "urandom")
    a, b = src.secret(), src.secret()
    assert len(a) == 32 and a != b and src.started
