"""What the demo says while it runs: one line per step of the story, for an operator.

Each source has its narrator here: the devices' console lines, the D-TAs' IssuanceEvents, the
gateway's Events, the anchors. Whatever repeats (a sleepy device's wake, hello and resumed
sessions; a refusal of the same kind) is said once per run and counted in the summary, so a
long run does not flood the terminal. Every value a device, a topic or a frame chose goes
through `printable` (escaped, cut to length) before it is printed.
"""

from __future__ import annotations

from typing import Callable

from dta.anchor.store import AnchorRow
from dta.demo.chain import K
from dta.demo.devices import AGENT_HEAP, SLEEP_S, DemoDevice
from dta.oidc.text import printable

SHOWN = 80  # characters of a device's or a frame's text shown in one line
# Lines a device prints that are not its event lines (a traceback, say): the first few only.
RAW_LINES = 3


def _p(value, limit: int = SHOWN) -> str:
    return printable(value if isinstance(value, str) else str(value), limit)


class Narrator:
    def __init__(self, say: Callable[[str], None], labels: dict[str, str]):
        self.say = say
        self.labels = labels  # dta8 hex -> "D-TA n"
        self._said: set = set()
        self.quiet = False  # stopping: what devices say while their VMs are killed is noise

    def first(self, *key) -> bool:
        if key in self._said:
            return False
        self._said.add(key)
        return True

    def dta(self, dta8) -> str:
        return self.labels.get(dta8, f"an unknown D-TA {_p(dta8, 16)}")

    # -- devices -------------------------------------------------------------------------------

    def device(self, dev: DemoDevice, ev: dict) -> None:
        if self.quiet:
            return
        line = self._device_line(dev, ev)
        if line:
            self.say(f"{dev.name}: {line}")

    def _device_line(self, dev: DemoDevice, ev: dict) -> str | None:
        kind = ev.get("event")
        handler = _DEVICE_LINES.get(kind)
        return handler(self, dev, ev) if handler else None

    def _boot(self, dev, ev):
        if not self.first(dev.name, "boot"):
            return None
        return (f"boots the firmware {_p(ev.get('firmware'), 16)} on board "
                f"{_p(ev.get('board'), 32)} ({AGENT_HEAP} heap), on {dev.where}; it wakes "
                f"from deep sleep every {SLEEP_S} s")

    def _identity(self, dev, ev):
        if not self.first(dev.name, "identity"):
            return None
        kid = _p(ev.get("key_id"), 16)
        if ev.get("created") is True:
            return f"made a new secp256k1 identity key, key id {kid}"
        return f"reloaded its identity key, key id {kid} (boot #{_p(ev.get('boot'), 12)})"

    def _trusted(self, dev, ev):
        return (f"verified {self.dta(ev.get('dta'))}'s birth itself: its Birth Record is in "
                f"block {_p(ev.get('birth'), 12)}, at least {K} deep on a header chain it "
                f"checked from its provisioned header to block {_p(ev.get('tip'), 12)}")

    def _handshake(self, dev, ev):
        if not self.first(dev.name, "handshake", ev.get("dta")):
            return None
        who = self.dta(ev.get("dta"))
        if ev.get("resumed") is True:
            return f"resumed its session with {who} (a ticket: no public-key operation)"
        return (f"full handshake with {who}: each side signed, the D-TA with the key its birth "
                f"proved ({_p(ev.get('cpu_us'), 12)} us of device compute)")

    def _share(self, dev, ev):
        return (f"took its share from {self.dta(ev.get('dta'))}: checked against the "
                f"D-TA-signed public share, and its entry #{_p(ev.get('index'), 12)} in a "
                "checkpoint the D-TA signed")

    def _share_refused(self, dev, ev):
        return (f"was refused a share by {self.dta(ev.get('dta'))} (reason "
                f"{_p(ev.get('reason'), 12)})")

    def _combined(self, dev, ev):
        return (f"combined {_p(ev.get('shares'), 4)} shares into its key for epoch "
                f"{_p(ev.get('epoch'), 12)}: public key {_p(ev.get('key'), 66)} (no D-TA "
                "knows its secret)")

    def _receipt(self, dev, ev):
        who = self.dta(ev.get("dta"))
        if ev.get("valid") is True:
            return (f"verified its anchored receipt from {who} itself: entry "
                    f"#{_p(ev.get('index'), 12)} is in a checkpoint anchored on-chain, {K} "
                    f"deep (headers to block {_p(ev.get('tip'), 12)})")
        return (f"REFUSED a receipt from {who}: the {_p(ev.get('link'), 32)} link does not "
                f"check ({_p(ev.get('detail'))})")

    def _ack(self, dev, ev):
        if not self.first(dev.name, "ack"):
            return None
        return (f"its signed events are in the log: acknowledged up to event "
                f"#{_p(ev.get('upto'), 12)} with the key of a D-TA it verified")

    def _failure(self, dev, ev):
        step = _p(ev.get("step"), 24)
        if not self.first(dev.name, "failure", step):
            return None
        return (f"step '{step}' failed ({_p(ev.get('detail'))}); it retries with backoff "
                "(further failures of this step are counted in the summary)")

    def _refuse(self, dev, ev):
        return f"REFUSED to start: {_p(ev.get('reason'), 24)}: {_p(ev.get('detail'))}"

    def _give_up(self, dev, ev):
        return (f"gave up after {_p(ev.get('failures'), 8)} failures at step "
                f"'{_p(ev.get('step'), 24)}': {_p(ev.get('action'), 16)}")

    def _safe_mode(self, dev, ev):
        return "entered safe mode after failed boots: it makes no key and asks for no shares"

    def _board_end(self, dev, ev):
        end = ev.get("end")
        if end in ("watchdog", "crash-then-watchdog"):
            return "its watchdog ran out: the board resets it"
        if end == "exit" and ev.get("code") not in (0, None):
            return f"its VM stopped with exit code {_p(ev.get('code'), 8)}"
        return None

    def _output(self, dev, ev):
        for n in range(RAW_LINES):
            if self.first(dev.name, "output", n):
                return f"console: {_p(ev.get('line'), 120)}"
        return None

    # -- the D-TAs, the gateway, the chain ------------------------------------------------------

    def authority(self, label: str, event) -> None:
        f, kind = event.fields, event.kind
        kid = _p(f.get("key_id"), 16)
        if kind == "share-issued" and f.get("new"):
            self.say(f"{label}: issued device {kid} its share for epoch {f.get('epoch')}: "
                     f"ShareIssued entry #{f.get('log_index')}, logged before it was sent")
        elif kind == "share-refused" and self.first(label, kind, kid):
            self.say(f"{label}: refused device {kid} a share for epoch {f.get('epoch')} "
                     f"(reason {f.get('reason')}; logged as a ShareRefused entry)")
        elif kind == "receipt-pushed" and self.first(label, kind, kid, f.get("log_index")):
            self.say(f"{label}: pushed device {kid} the anchored receipt of entry "
                     f"#{f.get('log_index')}")
        elif kind in ("refused", "peer-error", "failed", "trust-refused") and \
                self.first(label, kind, kid):
            why = f.get("reason") or f.get("error") or f.get("message") or ""
            self.say(f"{label}: {kind} with device {kid} ({_p(why)}; its repeats are "
                     "not shown)")

    def gateway(self, event) -> None:
        kind, kid = event.kind, _p(event.key_id, 40) if event.key_id else "an unknown device"
        if kind == "registered":
            self.say(f"gateway: new device {kid} ({_p(event.board, 32)}, firmware "
                     f"{_p(event.firmware, 16)}) on {_p(event.source, 64)}: pending approval")
        elif kind == "hello" and self.first("gateway", "hello", kid):
            self.say(f"gateway: device {kid} is back (boot #{event.boot}, {event.state})")
        elif kind == "event" and self.first("gateway", "event", kid):
            self.say(f"gateway: device {kid}'s signed events go into D-TA 1's log (event "
                     f"#{event.counter} is entry #{event.entry}), each acknowledged with its "
                     "key")
        elif kind in ("rejected", "failed") and self.first("gateway", kind, event.reason):
            self.say(f"gateway: {event.describe()} (repeats are counted in the summary)")

    def approved(self, kid: str, entries: dict[int, int]) -> None:
        shown = ", ".join(f"#{entries[i]} in D-TA {i}'s log" for i in sorted(entries))
        self.say(f"demo: approved device {kid} on every D-TA automatically, standing in for an "
                 f"operator's `dta devices enroll {kid}` on each: DeviceEnrolled {shown}")

    def anchored(self, label: str, row: AnchorRow, first: bool = False) -> None:
        what = ("its Birth Record" if row.sequence is None else
                f"checkpoint #{row.sequence} ({row.tree_size} entries)")
        more = "; its later anchors are counted in a line a minute" if first else ""
        self.say(f"{label}: {what} anchored: tx {row.txid} in block {row.height}, now {K} "
                 f"deep{more}")


# Not narrated: a device's `trust-refused` line (it asks from its tip first, then from its
# provisioned header, so one refusal is often a step, not the outcome: a birth it gives up on
# is its EVENT_TRUST, in the summary), and its per-wake lines (hello, sleep, memory, network).
_DEVICE_LINES = {
    "boot": Narrator._boot, "identity": Narrator._identity, "trusted": Narrator._trusted,
"handshake": Narrator._handshake,
    "share": Narrator._share, "share-refused": Narrator._share_refused,
    "shares-combined": Narrator._combined, "receipt": Narrator._receipt, "ack": Narrator._ack,
    "failure": Narrator._failure, "refuse": Narrator._refuse, "give-up": Narrator._give_up,
    "safe-mode": Narrator._safe_mode, "board-end": Narrator._board_end,
    "output": Narrator._output,
}
