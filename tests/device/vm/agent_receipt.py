# An anchored receipt checked by the device's own code (dtanode.shareflow) against a copy of a
# device's flash (tests/device/test_agent_federation.py):
#   agent_receipt.py DIR RECEIPT_FILE  -> "ok <tip height>" or "LinkError <link>: <reason>"
# The stand-in below holds what the agent would: the device's config, its trust store and key
# id, read from DIR; the check itself is the agent's.

import struct
import sys

from dtacore import receipt_bytes
from dtacore.receipt import LinkError
from dtanode import config, shareflow
from dtanode.clock import Clock
from dtanode.truststore import TrustStore


class Stand:
    def __init__(self, root):
        self.cfg = config.load_config(root + "/config.json")
        self.root = root
        self.trust = TrustStore(root, self.cfg)
        self.clock = Clock()
        from dtacore import wire
        from dtacore.fixedbase import pubkey
        from dtanode import records
        self.kid = wire.key_id(pubkey(records.load(root + "/key.bin", b"DTKY")))

    def say(self, *a, **kw):
        pass


class Peer:
    def __init__(self, agent):
        self.index = 0
        self.dta_id = agent.trust.ids[0]
        self.dta8 = self.dta_id[:8]

    def key(self):
        return self.agent_key

root = sys.argv[1]
with open(sys.argv[2], "rb") as f:
    raw = f.read()
agent = Stand(root)
peer = Peer(agent)
peer.agent_key = agent.trust.dta(0)[1]
flow = shareflow.Flow(agent, peer)

r = receipt_bytes.decode(raw)
held = shareflow.stored_share(agent, 0, agent.cfg["epoch"])

try:
    flow._anchored(struct.unpack(">Q", held[4:12])[0], r)
    print("ok", agent.trust.tip[0])
except LinkError as e:
    print("LinkError", e.link + ":", e.reason)
