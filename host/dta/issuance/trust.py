"""The D-TA's answer to a TRUST_REQUEST: its trust bundle (dta.anchor.bundle, from the Birth
Record row of its own anchor store and its node), one TRUST_PART payload per frame, or one
TRUST_REFUSED saying why there is none. The device checks every byte itself (dtacore.trust);
nothing here is trusted by it."""

from __future__ import annotations

import threading

from dta.anchor.bundle import MAX_BUNDLE_HEADERS, birth_bundle
from dta.anchor.store import CONFIRMED, FINAL, AnchorStore
from dta.errors import ChainError, NodeUnreachable
from dtacore import channel
from dtacore.errors import DecodeError


class TrustAnswers:
    def __init__(self, anchors: AnchorStore, node, record: bytes):
        self.anchors = anchors
        self.node = node
        self.record = bytes(record)
        self._lock = threading.Lock()

    def birth(self):
        """The Birth Record's anchor row once it is in a block, else None."""
        with self._lock:
            row = self.anchors.get(0)
        if row is None or row.state not in (CONFIRMED, FINAL) or row.current is None:
            return None
        return row

    def answer(self, payload: bytes) -> tuple[list[bytes], int | None]:
        """(payloads to send, the trusted height asked from, or None if the request did not
        parse)."""
        try:
            height = channel.decode_trust_request(payload)
        except DecodeError:
            return [channel.trust_refused(channel.TRUST_MALFORMED)], None
        row = self.birth()
        if row is None:
            return [channel.trust_refused(channel.TRUST_UNBORN)], height
        if self.node is None:
            return [channel.trust_refused(channel.TRUST_NO_NODE)], height
        try:
            tip = self.node.height()
            if height > tip:
                return [channel.trust_refused(channel.TRUST_HEIGHT_UNKNOWN)], height
            if tip - height > MAX_BUNDLE_HEADERS:
                return [channel.trust_refused(channel.TRUST_TOO_FAR)], height
            parts = birth_bundle(self.node, record=self.record,
                                 raw_tx=bytes.fromhex(row.current["raw"]), txid=row.txid,
                                 block_hash=row.block_hash, from_height=height)
        except (ChainError, NodeUnreachable):  # no answer, an error, a malformed one, a reorg
            return [channel.trust_refused(channel.TRUST_NO_NODE)], height
        return [channel.trust_part(p) for p in parts], height
