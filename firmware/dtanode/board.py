# The board layer: the only place the agent touches the chip's watchdog, deep sleep, reset and
# reset cause. On an ESP32 these are machine.WDT, machine.deepsleep, machine.reset and
# machine.reset_cause. The Unix port has none of them, so on the emulated board (board.json
# "emulated": true) this module is the stand-in for the chip: it asks the host's half of the
# board layer (dta.emulator.EmulatedBoard) through one pipe, whose descriptor the host passes in
# DTA_BOARD_FD, and learns the reset cause from DTA_RESET_CAUSE. Every caller's code path is the
# same on both; only the bodies below differ.
#
# Requests on the pipe, one line each:  W <ms>  arm the watchdog    F  feed it
#                                       S <ms>  deep sleep (then exit)   R  reset (then exit)
# The host kills a VM whose watchdog was not fed within <ms>, restarts it after a sleep's
# period with the same flash, and restarts it at once after a reset: each time with the cause.

import sys

# machine.reset_cause() values (ESP32 port) and their names in the boot report.
CAUSES = {1: "power-on", 2: "hard", 3: "wdt", 4: "deepsleep", 5: "soft"}
EXIT_SLEEP = 0  # exit codes of the VM after a sleep or reset request (the host reads the pipe)


class Board:
    def __init__(self, emulated):
        self.emulated = emulated
        self._pipe = None
        self._wdt = None
        if emulated:
            import os
            fd = os.getenv("DTA_BOARD_FD")
            if fd:
                self._pipe = open("/dev/fd/" + fd, "wb")
        # False on a plain VM run: nothing plays the chip, a reset or sleep only ends the VM.
        self.hosted = not emulated or self._pipe is not None

    def _ask(self, line):
        if self._pipe is not None:
            self._pipe.write(line)

    def reset_cause(self):
        # -> the name of what started this boot ("power-on", "wdt", "deepsleep", "soft", ...)
        if self.emulated:
            import os
            return os.getenv("DTA_RESET_CAUSE") or "power-on"
        import machine
        return CAUSES.get(machine.reset_cause(), "unknown")

    def watchdog(self, timeout_ms):
        # Arm the hardware watchdog: from here on the board resets unless feed() runs in time.
        if self.emulated:
            self._ask(b"W %d\n" % timeout_ms)
            self._wdt = True
        else:
            import machine
            self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        # Only the main loop calls this (dtanode.agent): a stuck step is never fed around.
        if self._wdt is True:
            self._ask(b"F\n")
        elif self._wdt is not None:
            self._wdt.feed()

    def deep_sleep(self, ms):
        # Does not return. On an ESP32 the wake is a boot with reset cause deepsleep.
        if self.emulated:
            self._ask(b"S %d\n" % ms)
            sys.exit(EXIT_SLEEP)
        import machine
        machine.deepsleep(ms)

    def reset(self):
        # Does not return. The next boot's reset cause is "soft".
        if self.emulated:
            self._ask(b"R\n")
            sys.exit(EXIT_SLEEP)
        import machine
        machine.reset()

    def ticks_ms(self):
        import time
        return time.ticks_ms()

    def sleep_ms(self, ms):
        import time
        time.sleep_ms(ms)
