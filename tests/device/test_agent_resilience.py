"""The agent never exits (issue 15), on the emulated board: the real firmware on the MicroPython
VM with the host half of the board layer (dta.emulator.EmulatedBoard) playing the ESP32's
watchdog, deep sleep and reset, against a real mosquitto.

Timing is never asserted: the tests wait for the device's own reports (its retry lines carry
the backoff delays it chose, its boot lines the reset cause it was given)."""

from __future__ import annotations

import queue
import socket
import threading

import pytest

from dta.emulator import EmulatedBoard, EmulatedDevice
from dta.services.mosquitto import Mosquitto, free_port

WAIT = 60


class Watch:
    """The events of an emulated board, in order, with waits on them."""

    def __init__(self):
        self.events: list[dict] = []
        self._q: queue.Queue = queue.Queue()

    def __call__(self, event: dict) -> None:
        self._q.put(event)

    def until(self, predicate, timeout: float = WAIT) -> dict:
        while True:
            try:
                event = self._q.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no such event; last: {self.events[-10:]}") from None
            self.events.append(event)
            if predicate(event):
                return event

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e["event"] == name]


def device(unix_bundle, root, **cfg) -> EmulatedDevice:
    dev = EmulatedDevice(root)
    dev.flash(unix_bundle)
    dev.configure(**cfg)
    return dev


@pytest.fixture
def board_of():
    boards = []

    def start(dev, **kw):
        watch = Watch()
        boards.append(EmulatedBoard(dev, watch, **kw).start())
        return watch

    yield start
    for b in boards:
        b.stop()


def test_broker_down_at_boot_then_up_the_device_connects_with_growing_gaps(
        unix_bundle, tmp_path, board_of):
    port = free_port()
    dev = device(unix_bundle, tmp_path / "dev", mqtt_port=port, backoff_base_ms=400,
                 backoff_cap_ms=60000, failures_before_action=100, wdt_timeout_ms=10000)
    watch = board_of(dev)
    watch.until(lambda e: e["event"] == "retry" and e["attempt"] == 5)
    with Mosquitto(tmp_path / "broker", port=port):  # the broker comes up now
        hello = watch.until(lambda e: e["event"] == "hello")
    retries = watch.named("retry")
    delays = [r["delay_ms"] for r in retries]
    assert len(delays) >= 5, delays
    assert all(delays[i + 1] >= delays[i] for i in range(len(delays) - 1)), delays
    assert delays[-1] > delays[0] and all(r["step"] == "connect" for r in retries)
    assert [e["failures"] for e in watch.named("failure")] == list(range(1, len(retries) + 1))
    assert hello["boot"] == 1  # the same boot: no reset on the way


def _silent_listener():
    """A TCP server that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []

    def accept():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return srv, held


def test_a_socket_that_never_answers_is_a_hang_the_watchdog_resets(unix_bundle, tmp_path,
                                                                    board_of):
    srv, held = _silent_listener()
    try:
        # The socket timeout is longer than the watchdog's: the silent broker stalls the main
        # loop, nothing feeds the watchdog, the board resets and says why.
        dev = device(unix_bundle, tmp_path / "dev", mqtt_port=srv.getsockname()[1],
                     socket_timeout_s=120, wdt_timeout_ms=2000)
        watch = board_of(dev)
        first = watch.until(lambda e: e["event"] == "boot")
        end = watch.until(lambda e: e["event"] == "board-end")
        again = watch.until(lambda e: e["event"] == "boot")
        assert first["reset"] == "power-on" and end["end"] == "watchdog"
        assert again["reset"] == "wdt" and again["boot"] == first["boot"] + 1
        assert not watch.named("failure")  # it hung: nothing returned to report a failure
        assert held  # the device did connect to the silent server
    finally:
        srv.close()


def test_a_socket_timeout_shorter_than_the_watchdog_is_a_reported_failure(unix_bundle,
                                                                           tmp_path, board_of):
    srv, held = _silent_listener()
    try:
        dev = device(unix_bundle, tmp_path / "dev", mqtt_port=srv.getsockname()[1],
                     socket_timeout_s=1, wdt_timeout_ms=10000, backoff_base_ms=100,
                     failures_before_action=100)
        watch = board_of(dev)
        watch.until(lambda e: e["event"] == "retry" and e["attempt"] == 2)
        failures = watch.named("failure")
        assert [f["step"] for f in failures] == ["connect", "connect"]
        assert "110" in failures[0]["detail"]  # ETIMEDOUT: the socket's own timeout
        assert not [e for e in watch.events if e["event"] == "board-end"]
    finally:
        srv.close()


def test_failures_end_in_deep_sleep_and_the_next_boot_report_says_so(unix_bundle, tmp_path,
                                                                     board_of):
    dev = device(unix_bundle, tmp_path / "dev", mqtt_port=free_port(), backoff_base_ms=50,
                 backoff_cap_ms=100, failures_before_action=3, failure_action="deepsleep",
                 failure_sleep_s=1)
    watch = board_of(dev)
    give_up = watch.until(lambda e: e["event"] == "give-up")
    end = watch.until(lambda e: e["event"] == "board-end")
    wake = watch.until(lambda e: e["event"] == "boot")
    assert give_up["action"] == "deepsleep" and give_up["failures"] == 3
    assert end["end"] == "sleep"
    assert wake["reset"] == "deepsleep" and wake["last"] == "deepsleep"
    assert wake["last_reason"] == "connect" and wake["last_failures"] == 3


def test_every_boot_failing_ends_in_safe_mode_until_provisioned(unix_bundle, tmp_path,
                                                                board_of, broker, gateway):
    # A stuck entropy source makes every boot fail before a key exists; after three failed boots
    # the agent stops looping: no key made, nothing requested, a report, a wait. A new config
    # (provisioning) brings it back into a normal boot.
    stuck = tmp_path / "stuck"
    stuck.write_bytes(bytes([0x42]) * 4096)
    cfg = {"mqtt_port": broker.port, "topic_prefix": gateway.cfg.mqtt.topic_prefix,
           "safe_mode_boots": 3, "backoff_base_ms": 50, "backoff_cap_ms": 100}
    dev = device(unix_bundle, tmp_path / "dev", entropy_path=str(stuck), **cfg)
    watch = board_of(dev)
    safe = watch.until(lambda e: e["event"] == "safe-mode")
    boots = watch.named("boot")
    assert [b["failed_boots"] for b in boots] == [0, 1, 2, 3]
    assert [b["reset"] for b in boots] == ["power-on", "soft", "soft", "soft"]
    assert len(watch.named("refuse")) == 3 and safe["failed_boots"] == 3
    watch.until(lambda e: e["event"] == "awaiting-provisioning")
    assert not (dev.root / "key.bin").exists()
    dev.configure(**cfg)  # provisioned again, without the broken source
    watch.until(lambda e: e["event"] == "provisioned")
    hello = watch.until(lambda e: e["event"] == "hello")
    normal = watch.named("boot")[-1]
    assert normal["failed_boots"] == 0 and hello["boot"] == normal["boot"]
    assert (dev.root / "key.bin").exists()
    assert gateway.wait_events(1)


def test_an_awake_device_keeps_its_broker_connection_with_pings(unix_bundle, tmp_path,
                                                                board_of):
    # keepalive 1 s: mosquitto drops a client silent for 1.5 s, so six pings (3 s awake, idle)
    # without a failure show the agent's PINGREQs keep the connection (umqtt sends none itself)
    port = free_port()
    with Mosquitto(tmp_path / "broker", port=port):
        dev = device(unix_bundle, tmp_path / "dev", mqtt_port=port, keepalive=1)
        watch = board_of(dev)
        watch.until(lambda e: e["event"] == "hello")
        watch.until(lambda e: len(watch.named("keepalive")) >= 6 or e["event"] == "failure")
        assert not watch.named("failure"), watch.named("failure")
        assert len(watch.named("keepalive")) >= 6
