# What the device has verified itself, kept atomically across reboots: each D-TA whose birth it
# checked (dtacore.trust: id, identity key, birth height) and the tip of the header chain it
# verified (height, header). A later check starts from that tip, so a D-TA sends only the
# headers after it; the provisioned checkpoint (config.json) stays the root of everything.
#
#   dta<index>.bin = D-TA id 32 | identity key 33 | birth height u32      (records, DTDT)
#   tip.bin        = height u32 | header 80                               (records, DTTP)
#
# None of it is secret: a device that loses these files checks the births again.

import struct
from binascii import unhexlify

from dtacore.errors import DecodeError
from dtanode import records

DTA_MAGIC = b"DTDT"
TIP_MAGIC = b"DTTP"
TIP_FILE = "tip.bin"
HEADER_LEN = 80


def header_time(header):
    # A block header's timestamp (Unix seconds, u32 little-endian at offset 68).
    return struct.unpack("<I", bytes(header[68:72]))[0]


class TrustStore:
    def __init__(self, root, cfg):
        self.root = root
        self.network = cfg["network"]
        self.k = cfg["confirmations"]
        self.ids = [unhexlify(x) for x in cfg["dta_ids"]]
        self.checkpoint = (cfg["checkpoint_height"], unhexlify(cfg["checkpoint_header"]))
        self.tip = self.checkpoint
        self._dtas = {}
        try:
            raw = records.load(self._path(TIP_FILE), TIP_MAGIC)
            if len(raw) == 4 + HEADER_LEN:
                height = struct.unpack(">I", raw[:4])[0]
                if height >= self.checkpoint[0]:
                    self.tip = (height, raw[4:])
        except (records.Missing, DecodeError):
            pass  # no tip beyond the checkpoint yet, or a damaged one: start from the checkpoint

    def _path(self, name):
        return self.root + "/" + name

    def dta(self, index):
        # -> (D-TA id, identity key) of a D-TA verified before, or None.
        if index in self._dtas:
            return self._dtas[index]
        try:
            raw = records.load(self._path("dta%d.bin" % index), DTA_MAGIC)
        except (records.Missing, DecodeError):
            return None
        if len(raw) != 69 or raw[:32] != self.ids[index]:
            return None  # a record for another id (re-provisioned): check this one again
        self._dtas[index] = (raw[:32], raw[32:65])
        return self._dtas[index]

    def by_dta8(self, dta8):
        # -> (index, D-TA id, identity key) of the verified D-TA whose id starts with dta8.
        for i, dta_id in enumerate(self.ids):
            if dta_id[:8] == dta8:
                known = self.dta(i)
                return None if known is None else (i, known[0], known[1])
        return None

    def key_of(self, dta8):
        known = self.by_dta8(dta8)
        return None if known is None else known[2]

    def accept(self, index, verified):
        # verified: dtacore.trust.VerifiedDta. The D-TA first, then the tip if it is newer.
        records.store(self._path("dta%d.bin" % index), DTA_MAGIC,
                      verified.dta_id + verified.identity_pubkey
                      + struct.pack(">I", verified.birth_height))
        self._dtas[index] = (verified.dta_id, verified.identity_pubkey)
        self.advance(verified.tip_height, verified.tip_header)

    def advance(self, height, header):
        # A header chain the device checked reached `height`: keep it if it is further.
        if height > self.tip[0]:
            self.tip = (height, bytes(header))
            records.store(self._path(TIP_FILE), TIP_MAGIC, struct.pack(">I", height) + header)

    def verified_time(self):
        return header_time(self.tip[1])
