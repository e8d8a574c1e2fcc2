# The device's entropy source and its SP 800-90B section 4.4 health tests.
#
# Assessed min-entropy H = 6 bits per byte (a conservative figure for the ESP32 RNG with the RF
# subsystem on; see docs/entropy.md). False-alarm probability alpha = 2^-20 per test decision.
#   Repetition count test: cutoff C = 1 + ceil(-log2(alpha) / H) = 1 + ceil(20/6) = 5
#   Adaptive proportion test: window W = 512, cutoff C = 1 + CRITBINOM(W, 2^-H, 1 - alpha) = 25
# Start-up: 1024 samples are tested and discarded before the first use (SP 800-90B 4.3).
# A failure latches: the source is unusable until reboot and no secret is made from it.

import hashlib

from dtacore.errors import ProtocolError

RCT_CUTOFF = 5
APT_WINDOW = 512
APT_CUTOFF = 25
STARTUP_SAMPLES = 1024
CHUNK = 64


class EntropyError(ProtocolError):
    pass


class HealthTests:
    def __init__(self):
        self.failure = None
        self.rct_last = -1
        self.rct_run = 0
        self.apt_ref = -1
        self.apt_seen = 0
        self.apt_count = 0

    def feed(self, buf):
        # Run both tests over every byte in buf; stop at and latch the first failure.
        if self.failure:
            raise EntropyError(self.failure)
        for b in buf:
            if b == self.rct_last:
                self.rct_run += 1
                if self.rct_run >= RCT_CUTOFF:
                    self._fail("repetition count test: %d identical samples" % self.rct_run)
            else:
                self.rct_last = b
                self.rct_run = 1
            if self.apt_seen == 0:
                self.apt_ref = b
                self.apt_count = 1
            elif b == self.apt_ref:
                self.apt_count += 1
                if self.apt_count >= APT_CUTOFF:
                    self._fail("adaptive proportion test: %d of %d samples equal"
                               % (self.apt_count, APT_WINDOW))
            self.apt_seen += 1
            if self.apt_seen == APT_WINDOW:
                self.apt_seen = 0

    def _fail(self, why):
        # The first failure latches; later calls report the same one.
        self.failure = why
        raise EntropyError(why)


class Source:
    # read(n) -> n raw bytes from the board's noise source; every byte passes the health tests.
    def __init__(self, read, describe):
        self._read = read
        self.describe = describe
        self.health = HealthTests()
        self._buf = bytearray(CHUNK)
        self.started = False

    def raw(self, n):
        if self.health.failure:
            raise EntropyError(self.health.failure)
        data = self._read(n)
        if data is None or len(data) != n:
            self.health.failure = "source returned %s of %d bytes" % (
                "nothing" if data is None else len(data), n)
            raise EntropyError(self.health.failure)
        self.health.feed(data)
        return data

    def startup(self):
        left = STARTUP_SAMPLES
        while left > 0:
            self.raw(CHUNK if left > CHUNK else left)
            left -= CHUNK
        self.started = True

    def secret(self):
        # 32 bytes for a secret: 64 tested raw bytes (>= 384 bits of min-entropy at H = 6)
        # conditioned with SHA-256, a vetted conditioning component (SP 800-90B 3.1.5.1.1).
        if not self.started:
            self.startup()
        return hashlib.sha256(self.raw(64)).digest()


def _file_reader(path):
    # One handle for the device's lifetime: successive reads continue through the source.
    f = open(path, "rb")

    def read(n):
        return f.read(n)
    return read


def for_board(board, cfg):
    # Pick and prepare the board's noise source. Returns a Source.
    spec = board.get("entropy", {})
    kind = spec.get("source")
    if kind == "device":
        # Emulated board: a character device (default /dev/urandom). Tests may point it at a
        # file of stuck or biased bytes through the device config.
        path = cfg.get("entropy_path") or spec.get("path", "/dev/urandom")
        return Source(_file_reader(path), "device " + path)
    if kind == "radio":
        # ESP32: esp_random() is a true RNG only while Wi-Fi/BT (or the ADC source) runs.
        import os

        from dtanode import wifi
        wifi.radio_on()
        return Source(os.urandom, "os.urandom with the radio on (WLAN active)")
    raise EntropyError("board has no usable entropy source (%r)" % kind)
