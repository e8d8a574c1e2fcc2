"""What the demo waits for and reports: per device, what it verified, from two sources.

- The device's own events in the D-TAs' logs (DeviceEvent entries: signed by the device, logged
  by the gateway, each re-checked here): its verified births (EVENT_TRUST), sessions
  (EVENT_HANDSHAKE), combined key (EVENT_SHARES_COMBINED), receipts (EVENT_RECEIPT, with the
  failing link when one did not check). They hold for every run, this one and the earlier.
- Its console this run (dta.demo.devices.Console): its key id, and a refused receipt's link
  as it happens. Its other console claims are narrated, not counted: only what the log holds
  is evidence an operator has (a claim whose event a power cut lost never reaches it).

The D-TAs' side comes from their own stores: each D-TA's ShareIssued entry for the device (log
index, public share) from its issuance index. The demo adds the D-TA-signed public shares
itself and compares the sum with the combined key the device reported.

A device is done when its logged events show, for every D-TA, the birth verified, a session
this run and that D-TA's anchored receipt for its share verified, and a combined key that is
the sum of the public shares the D-TAs signed for it. It has failed when a receipt or a
birth did not check, or its key is not the sum.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dta.anchor.store import FINAL
from dta.demo.devices import EPOCH, HEX66, Console, DemoDevice
from dta.errors import DtaError
from dtacore import backend, channel, entries
from dtacore.errors import ProtocolError
from dtacore.receipt import LINKS

EVENT_NAMES = {channel.EVENT_BOOT: "boot", channel.EVENT_HANDSHAKE: "handshake",
               channel.EVENT_SHARES_COMBINED: "shares-combined",
               channel.EVENT_RECEIPT: "receipt", channel.EVENT_TRUST: "trust",
               channel.EVENT_REPORT: "report"}


# What `_why_waiting` says when a receipt can no longer reach the device: the D-TA's first
# anchor covering the entry is at or below the block the device asks for headers from, and a
# device receipt's header chain starts at that block (dtanode.shareflow, dta.issuance.receipts).
STUCK = "cannot reach the device"


def link_name(result: int) -> str:
    """The failing link an EVENT_RECEIPT / EVENT_TRUST result byte names (0: none)."""
    return LINKS[result - 1] if 0 < result <= len(LINKS) else f"unknown link {result}"


@dataclass
class DeviceLedger:
    """One device's events as the logs hold them."""

    logged: int = 0
    this_run: int = 0
    bad_signatures: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    trusted: dict[str, int] = field(default_factory=dict)   # dta8 hex -> result (0: trusted)
    handshakes: dict[str, bool] = field(default_factory=dict)  # this run: dta8 hex -> resumed
    combined: str | None = None
    receipts: dict[str, tuple[int, int]] = field(default_factory=dict)  # dta8 -> (index, res)

    def take(self, ev: entries.DeviceEvent, this_run: bool) -> None:
        if not ev.signature_valid(backend.verify):
            self.bad_signatures += 1
            return
        self.logged += 1
        self.this_run += this_run
        name = EVENT_NAMES.get(ev.kind, f"application {ev.kind}")
        self.kinds[name] = self.kinds.get(name, 0) + 1
        p = ev.payload
        if ev.kind == channel.EVENT_TRUST and len(p) == 9:
            self.trusted[p[:8].hex()] = p[8]
        elif ev.kind == channel.EVENT_HANDSHAKE and len(p) == 9 and this_run:
            self.handshakes.setdefault(p[:8].hex(), p[8] == 1)
        elif ev.kind == channel.EVENT_SHARES_COMBINED and len(p) == 37 and \
                struct.unpack(">I", p[:4])[0] == EPOCH:
            self.combined = p[4:].hex()
        elif ev.kind == channel.EVENT_RECEIPT and len(p) == 17:
            index, result = struct.unpack(">QB", p[8:])
            if self.receipts.get(p[:8].hex(), (None, 1))[1] != 0:
                self.receipts[p[:8].hex()] = (index, result)


class Ledger:
    """Every D-TA log's DeviceEvent entries, read as the logs grow. `starts[i]` is the size of
    log i when this run began: entries from there on are this run's."""

    def __init__(self, stores: list, starts: list[int]):
        self.stores, self.starts = stores, starts
        self.read = [0] * len(stores)  # the earlier runs' events count too
        self.devices: dict[bytes, DeviceLedger] = {}

    def scan(self) -> None:
        for i, store in enumerate(self.stores):
            size = store.size
            for index in range(self.read[i], size):
                try:
                    ev = entries.decode(store.entry(index))
                except (ProtocolError, DtaError):
                    continue  # not an entry of ours to read: `dta log verify` speaks to that
                if isinstance(ev, entries.DeviceEvent):
                    self.of(ev.device_key).take(ev, index >= self.starts[i])
            self.read[i] = size

    def of(self, pubkey: bytes) -> DeviceLedger:
        return self.devices.setdefault(bytes(pubkey), DeviceLedger())


def _share_rows(authorities, kid: bytes) -> list:
    rows = []
    for a in authorities:
        row = a.service.index.share(kid, EPOCH)
        rows.append(None if row is None else {
            "dta": a.index, "log_index": row.log_index, "public_share": row.public_share.hex()})
    return rows


def _sum(rows: list) -> str | None:
    if not rows or any(r is None for r in rows):
        return None
    return backend.point_sum([bytes.fromhex(r["public_share"]) for r in rows]).hex()


def device_facts(dev: DemoDevice, c: Console, authorities, registry, ledger: Ledger) -> dict:
    """Everything the summary says about one device (`c`: a copy of its console facts), and
    what it still misses."""
    out = {"name": dev.name, "transport": dev.transport, "where": dev.where,
           "key_id": c.key_id, "pubkey": None, "failures": dict(c.failures)}
    known = registry.get(c.key_id) if c.key_id else None
    if known is None:
        out.update(complete=False, failed=[],
                   missing=[c.refused or "not registered with the gateway yet"])
        return out
    logged = ledger.of(known.pubkey)
    rows = _share_rows(authorities, bytes.fromhex(c.key_id))
    combined = logged.combined
    out.update(pubkey=known.pubkey.hex(), state=known.state, shares=rows, combined_key=combined,
               shares_sum=_sum(rows),
               events={"logged": logged.logged, "this_run": logged.this_run,
                       "kinds": logged.kinds, "bad_signatures": logged.bad_signatures})
    out["per_dta"] = [_per_dta(a, c, logged, rows[n]) for n, a in enumerate(authorities)]
    _verdict(out, logged)
    return out


def _per_dta(a, c, logged: DeviceLedger, share: dict | None) -> dict:
    # What counts is what the log holds (the device's signed events): a claim only on its
    # console (its event not logged yet, or lost with a power cut before it reached the outbox)
    # is not evidence an operator has. The console only shows a refused receipt early.
    d8 = a.service.dta8.hex()
    refused = logged.trusted.get(d8)
    receipt = {"verified": False, "failed_link": None}
    wanted = share["log_index"] if share else None
    seen = c.receipts.get(d8)
    if d8 in logged.receipts and logged.receipts[d8][0] == wanted:
        result = logged.receipts[d8][1]
        receipt = {"verified": result == 0, "failed_link": link_name(result) if result else None}
    elif seen and seen.get("index") == wanted and not seen["valid"]:
        receipt["failed_link"] = str(seen.get("link"))[:32]
    if share and not receipt["verified"] and not receipt["failed_link"]:
        receipt["waiting"] = ("verified on the device, its event not logged yet"
                              if seen and seen["valid"] else
                              _why_waiting(a, bytes.fromhex(c.key_id), wanted))
    session = logged.handshakes.get(d8)
    return {"dta": a.index, "trusted": refused == 0,
            "trust_failed_link": link_name(refused) if refused else None,
            "session": None if session is None else ("resumed" if session else "full"),
            "receipt": receipt}


def _why_waiting(a, kid: bytes, log_index: int) -> str:
    """Why a share's anchored receipt has not reached the device yet, from the D-TA's side: its
    first anchor covering the entry, and the block the device asks for headers from."""
    row = next((r for r in a.anchors() if r.sequence is not None and r.tree_size > log_index),
               None)
    if row is None or row.state != FINAL or row.height is None:
        return "the checkpoint holding its entry is not anchored k deep yet"
    asked = a.service.index.trusted_height(kid)
    if asked is not None and asked >= row.height:
        return (f"{STUCK}: its entry is anchored in block {row.height}, but the device asks for "
                f"headers from block {asked} on (its tip, moved past it by another D-TA's "
                "receipt), and a receipt's headers start there")
    return f"anchored in block {row.height}: the device takes it at its next session"


def _verdict(out: dict, logged: DeviceLedger) -> None:
    missing, failed = [], []
    for p in out["per_dta"]:
        n = p["dta"]
        if p["trust_failed_link"] and not p["trusted"]:
            failed.append(f"D-TA {n}'s birth did not check ({p['trust_failed_link']})")
        elif not p["trusted"]:
            missing.append(f"D-TA {n}'s birth not verified")
        if not p["session"]:
            missing.append(f"no session with D-TA {n} this run")
        if p["receipt"]["failed_link"]:
            failed.append(f"D-TA {n}'s receipt refused at the {p['receipt']['failed_link']} "
                          "link")
        elif not p["receipt"]["verified"]:
            why = p["receipt"].get("waiting")
            text = f"D-TA {n}'s anchored receipt not verified" + (f": {why}" if why else "")
            (failed if why and why.startswith(STUCK) else missing).append(text)
    if any(r is None for r in out["shares"]):
        missing.append("a share not issued yet")
    key, total = out["combined_key"], out["shares_sum"]
    if key is None or not HEX66.match(key):
        missing.append("no combined key yet")
    elif total is not None and key != total:
        failed.append("its combined key is not the sum of the D-TA-signed public shares")
    if not logged.this_run:
        missing.append("none of its events logged this run")
    if logged.bad_signatures:
        failed.append(f"{logged.bad_signatures} logged events with a bad signature")
    out.update(missing=missing, failed=failed, complete=not missing and not failed)
