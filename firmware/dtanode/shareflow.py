# What a D-TA sends inside a session (docs/channel.md, 3 and 4) and what the device does with
# it: a share (checked against its signed public share and the D-TA's verified key, accepted
# once its pending receipt shows the ShareIssued entry in a signed checkpoint), the upgraded
# receipt once that checkpoint is anchored (verified end to end, the result reported), the
# D-TA's signed time, a voucher. When a share from every D-TA is held, they are combined.
#
#   sh<index>.bin = epoch u32 | log index u64 | share 32 | statement       (a secret)
#   key.comb      = epoch u32 | combined share 32 | combined public key 33  (a secret)
#   vc<index>.bin = voucher 76 (dtacore.voucher)
# Secrets are written atomically, 0600 on the emulator; on an ESP32 flash encryption protects
# them at rest (docs/security.md, "At rest on an ESP32").

import struct

from dtacore import channel
from dtacore.errors import DecodeError, VerifyError
from dtacore.wire import _hex
from dtanode import records
from dtanode.stages import unload

SHARE_MAGIC = b"DTSH"
COMBINED_MAGIC = b"DTCK"
VOUCHER_MAGIC = b"DTVC"
RECEIPT_MAGIC = b"DTRC"
COMBINED_FILE = "key.comb"
CHECK_MODULES = ("dtacore.shares", "dtacore.receipt_bytes", "dtacore.receipt", "dtacore.entries",
                 "dtacore.note", "dtacore.merkle", "dtacore.ecdsa", "dtacore.ecverify",
                 "dtacore.fixedbase", "dtacore.ecmult", "dtacore.gtable", "dtacore.gtable_comb",
                 "dtacore.gtable_wnaf", "dtacore.secp256k1", "dtacore.spv", "dtacore.anchor",
                 "dtacore.bitcoin", "dtacore.network", "dtacore.der", "dtacore.prepared")
# What only the log half of a receipt check uses (the entry, its inclusion proof).
LOG_MODULES = ("dtacore.entries", "dtacore.merkle")
# The modules an anchored receipt's check loads, for intern_receipt_check.
RECEIPT_CHECK = ("dtacore.receipt", "dtacore.receipt_bytes", "dtacore.entries", "dtacore.merkle",
                 "dtacore.note", "dtacore.anchor", "dtacore.bitcoin", "dtacore.spv",
                 "dtacore.network")


def _path(agent, name):
    return agent.root + "/" + name


def combined(agent):
    # -> (epoch, combined public key) held, or None.
    try:
        raw = records.load(_path(agent, COMBINED_FILE), COMBINED_MAGIC)
    except (records.Missing, DecodeError):
        return None
    return struct.unpack(">I", raw[:4])[0], raw[36:69]


def stored_share(agent, index, epoch):
    try:
        raw = records.load(_path(agent, "sh%d.bin" % index), SHARE_MAGIC)
    except (records.Missing, DecodeError):
        return None
    if struct.unpack(">I", raw[:4])[0] != epoch:
        return None
    return raw


def wants_share(agent, index, epoch):
    held = combined(agent)
    if held is not None and held[0] == epoch:
        return False
    return stored_share(agent, index, epoch) is None


def receipt_done(agent, index):
    # -> the log index whose anchored receipt from this D-TA the device verified, or None.
    try:
        return struct.unpack(">Q", records.load(_path(agent, "rc%d.bin" % index),
                                                RECEIPT_MAGIC))[0]
    except (records.Missing, DecodeError):
        return None


def receipt_base(agent, index):
    try:
        raw = records.load(_path(agent, "rb%d.bin" % index), b"DTRB")
    except (records.Missing, DecodeError):
        return None
    return struct.unpack(">I", raw[:4])[0], raw[4:84]


def awaited_receipt(agent, index, epoch):
    # -> the log index of D-TA index's share of this epoch while its anchored receipt is not
    # verified yet, else None.
    held = stored_share(agent, index, epoch)
    if held is None:
        return None
    log_index = struct.unpack(">Q", held[4:12])[0]
    return None if receipt_done(agent, index) == log_index else log_index


def receipt_awaited(agent):
    # -> True when a share of this epoch is held whose anchored receipt is not verified yet.
    epoch = agent.cfg["epoch"]
    for i in range(len(agent.trust.ids)):
        if awaited_receipt(agent, i, epoch) is not None:
            return True
    return False


def intern_receipt_check(agent):
    # At boot, in a wake that may take an anchored receipt: the check's modules imported and
    # unloaded one at a time while the heap is young. The names they intern (qstrs) stay for
    # the VM's life, in pools that double and never move: loading them first mid-session grew
    # the pool there (1280 entries, one 14 KB block on the Unix port), at the check's peak in a
    # fragmented heap. Grown now, the check later reloads only the code.
    if not receipt_awaited(agent):
        return
    for name in RECEIPT_CHECK:
        __import__(name)
        unload(name)


class Flow:
    # One session's messages from one D-TA (peer: dtanode.dtapeer.DtaPeer).
    def __init__(self, agent, peer):
        self.agent = agent
        self.peer = peer
        self.share = None  # (share, statement bytes, PublicShare) until its receipt checks
        self.complete = False  # a share was stored: combine_if_complete once the checks unload
        self.assembler = channel.ReceiptAssembler()

    def start(self):
        # At the start of a session: ask for the share, or for its anchored receipt while the
        # device has not verified one (from the device's tip: only the headers after it come).
        epoch = self.agent.cfg["epoch"]
        if wants_share(self.agent, self.peer.index, epoch):
            self.peer.send(channel.share_request(epoch))
            return
        log_index = awaited_receipt(self.agent, self.peer.index, epoch)
        if log_index is not None:
            base = receipt_base(self.agent, self.peer.index) or self.agent.trust.tip
            self.peer.send(channel.receipt_request(log_index, base[0]))

    def handle(self, plaintext):
        import time
        t0 = time.ticks_us()
        try:
            try:
                self._dispatch(plaintext)
            finally:
                unload(*CHECK_MODULES)
            if self.complete:
                # A share was stored: combined (when it was the last) once the checks' code
                # has gone, the combination's own after it.
                self.complete = False
                try:
                    combine_if_complete(self.agent)
                finally:
                    unload(*CHECK_MODULES)
        except (DecodeError, VerifyError) as e:
            self.agent.say("message-refused", dta=_hex(self.peer.dta8), detail=repr(str(e)))
        finally:
            self.agent.cpu_us += time.ticks_diff(time.ticks_us(), t0)

    def _dispatch(self, plaintext):
        kind, fields = channel.decode_message(plaintext)
        if kind == channel.MSG_SHARE:
            self._share(fields[0], fields[1])
        elif kind == channel.MSG_RECEIPT:
            receipt = self.assembler.add(*fields)
            if receipt is not None:
                self._receipt(fields[0], receipt)
        elif kind == channel.MSG_TIME:
            self.agent.clock.learn(fields[0])
        elif kind == channel.MSG_VOUCHER:
            records.store(_path(self.agent, "vc%d.bin" % self.peer.index), VOUCHER_MAGIC,
                          fields[0])
        elif kind == channel.MSG_SHARE_REFUSED:
            self.agent.say("share-refused", dta=_hex(self.peer.dta8), epoch=fields[0],
                           reason=fields[1])
            self.agent.report("share refused by %s: reason %d" % (_hex(self.peer.dta8),
                                                                 fields[1]))

    def _share(self, share, statement):
        from dtacore import shares
        ps = shares.decode_statement(statement)
        epoch = self.agent.cfg["epoch"]
        shares.check_share(share, ps, self.peer.key(), self.agent.kid, epoch)
        self.share = (share, statement, ps)

    def _receipt(self, log_index, raw):
        from dtacore import receipt_bytes
        from dtacore.receipt import LinkError
        r = receipt_bytes.decode(raw)
        if r.anchor is None:
            if self.share is None:
                return  # the answer to a receipt request: not anchored yet, ask next session
            self._pending(log_index, r)
            return
        if receipt_done(self.agent, self.peer.index) == log_index:
            return  # verified already (a push and the answer to our request both came)
        import time
        t0 = time.ticks_us()
        try:
            self._anchored(log_index, r)
            failed = 0
        except LinkError as e:
            from dtacore.receipt import LINK_CONFIRMATIONS, LINKS
            if e.link == LINK_CONFIRMATIONS:
                # Anchored, not yet k deep: not accepted, and asked for again next session.
                self.agent.say("receipt-shallow", dta=_hex(self.peer.dta8), index=log_index,
                               detail=repr(e.reason))
                return
            failed = LINKS.index(e.link) + 1
            self.agent.say("receipt", dta=_hex(self.peer.dta8), index=log_index, valid=False,
                           link=repr(e.link), detail=repr(e.reason))
        if not failed:
            self.agent.say("receipt", dta=_hex(self.peer.dta8), index=log_index, valid=True,
                           tip=self._verified_at, cpu_us=time.ticks_diff(time.ticks_us(), t0))
        self.agent.events.emit(channel.EVENT_RECEIPT,
                               self.peer.dta8 + struct.pack(">QB", log_index, failed))

    def _pending(self, log_index, r):
        # The share's receipt: accept the share only when its entry is in a signed checkpoint.
        from dtacore import receipt_bytes
        if self.share is None or self.share[2].log_index != log_index:
            raise VerifyError("a pending receipt for no share this session")
        share, statement, ps = self.share
        receipt_bytes.check_share_entry(r, self.peer.key(), self.agent.kid, ps.epoch,
                                        ps.public_share, log_index)
        records.store(_path(self.agent, "sh%d.bin" % self.peer.index), SHARE_MAGIC,
                      struct.pack(">IQ", ps.epoch, log_index) + share + statement)
        t = self.agent.trust.tip
        records.store(_path(self.agent, "rb%d.bin" % self.peer.index), b"DTRB",
                      struct.pack(">I", t[0]) + t[1])
        self.share = None
        self.agent.say("share", dta=_hex(self.peer.dta8), epoch=ps.epoch, index=log_index)
        self.complete = True

    def _anchored(self, log_index, r):
        from dtacore import network, receipt_bytes
        from dtacore.receipt import LINK_HEADERS, LinkError
        a, trust = r.anchor, self.agent.trust
        held = stored_share(self.agent, self.peer.index, self.agent.cfg["epoch"])
        if held is None or struct.unpack(">Q", held[4:12])[0] != log_index:
            from dtacore.receipt import LINK_ENTRY
            raise LinkError(LINK_ENTRY, "no share of this device is at log index %d" % log_index)
        ps_pub = held[12 + 32 + 44:12 + 32 + 77]
        receipt_bytes.check_share_entry(r, self.peer.key(), self.agent.kid,
                                        self.agent.cfg["epoch"], ps_pub, log_index)
        # The log half is done: its entry and proof code goes before the Bitcoin half loads
        # (dtacore.receipt stays: its LinkError is the one the caller catches).
        unload(*LOG_MODULES)
        base = receipt_base(self.agent, self.peer.index)
        if base is not None and a.checkpoint_height == base[0]:
            height, header = base
        elif a.checkpoint_height == trust.tip[0]:
            height, header = trust.tip
        elif a.checkpoint_height == trust.checkpoint[0]:
            height, header = trust.checkpoint
        else:
            raise LinkError(LINK_HEADERS, "the headers start after height %d, this device "
                            "trusts %d and %d" % (a.checkpoint_height, trust.tip[0],
                                                  trust.checkpoint[0]))
        receipt_bytes.check_anchored(r, self.peer.dta_id, self.peer.key(), header, height,
                                     network.by_name(trust.network), trust.k)
        n = len(a.headers) // 80
        trust.advance(height + n, a.headers[(n - 1) * 80:])
        records.store(_path(self.agent, "rc%d.bin" % self.peer.index), RECEIPT_MAGIC,
                      struct.pack(">Q", log_index))
        self.agent.clock.learn(trust.verified_time())
        self._verified_at = (height + n)


def combine_if_complete(agent):
    # Once a share of this epoch from every D-TA is stored: combine, store, report.
    epoch = agent.cfg["epoch"]
    got, pubs = [], []
    for i in range(len(agent.trust.ids)):
        raw = stored_share(agent, i, epoch)
        if raw is None:
            return False
        got.append(raw[12:44])
        pubs.append(raw[44 + 44:44 + 77])
    from dtacore import shares
    secret, pub = shares.combine(got, pubs) if len(got) > 1 else _single(got[0], pubs[0])
    records.store(_path(agent, COMBINED_FILE), COMBINED_MAGIC,
                  struct.pack(">I", epoch) + secret + pub)
    agent.say("shares-combined", epoch=epoch, key=_hex(pub), shares=len(got),
              cpu_us=agent.cpu_us)
    agent.events.emit(channel.EVENT_SHARES_COMBINED, struct.pack(">I", epoch) + pub)
    return True


def _single(share, pub):
    # A federation of one: the share is the key (checked against its public share already).
    return share, pub
