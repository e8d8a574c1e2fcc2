# The device's time, from what it verified and nothing else (no NTP): the timestamps of block
# headers it checked itself (each within the proof of work it checked; a miner can move one by
# about two hours) and the D-TA's signed time (MSG_TIME, inside an authenticated session). Both
# are lower bounds on the real time, kept monotonic: learn() never moves the clock back, and
# between lessons it runs on the board's tick counter. What this gives and what it does not:
# docs/security.md, "Time on the device".

import time

# ticks_diff is exact below half the tick period (about 6 days on MicroPython): rebase daily.
REBASE_MS = 86400000


class Clock:
    def __init__(self):
        self.base = 0  # verified Unix seconds, 0 while nothing is verified
        self.at = time.ticks_ms()

    def now(self):
        if not self.base:
            return 0
        t = time.ticks_ms()
        passed = time.ticks_diff(t, self.at)
        if passed > REBASE_MS:  # ticks wrap (2^30 ms on MicroPython): fold long runs into base
            self.base += passed // 1000
            self.at = time.ticks_add(self.at, passed // 1000 * 1000)
            passed = time.ticks_diff(t, self.at)
        return self.base + passed // 1000

    def learn(self, seconds):
        # A verified time: kept if it is later than what the clock says now.
        if seconds > self.now():
            self.base = seconds
            self.at = time.ticks_ms()
