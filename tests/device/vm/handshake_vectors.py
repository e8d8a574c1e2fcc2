# Runs handshake vectors (tests/vectors/handshake/) with dtacore on whichever interpreter runs
# this file: the MicroPython VM (the device implementation: pure modules) or CPython
# (dtacore.backend on coincurve + cryptography). Not collected by pytest.
#
#   micropython handshake_vectors.py < vectors.jsonl     one JSON vector per line; prints
#   "<name> ok" or "<name> FAIL <why>" per vector, then "done <count>"
#
# tests/unit/test_handshake_vectors.py imports run_vector() to run the same vectors on CPython,
# and tests/vectors/handshake/make_vectors.py uses it (record=True) to write the expected
# outputs. A vector: {"name", "parties": {id: spec}, "steps": [...], optional "trace"}; a
# party spec has a role (initiator, responder, resume-initiator, resume-responder), keys, an
# rng stream and its lookup table. Each step acts on one party and says what must come out.
import gc
import json
import sys
from binascii import hexlify, unhexlify

from dtacore import backend, handshake, handshake_responder, resumption, tickets
from dtacore import handshake_wire as W
from dtacore.errors import ProtocolError


def ux(s):
    return unhexlify(s) if s else b""


def hx(b):
    return hexlify(b).decode()


class Stream:
    # The party's randomness: fixed bytes, consumed in order (running out is a vector bug).
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def __call__(self, n):
        if self.pos + n > len(self.data):
            raise RuntimeError("rng stream exhausted")
        self.pos += n
        return self.data[self.pos - n:self.pos]


class Env:
    # What outlives a party object: the responder's ticket store and clock, prepared keys.
    def __init__(self, v):
        self.now = v.get("clock", 0)
        self.store = None
        self.prepared = {}
        spec = v.get("store")
        if spec is not None:
            self.store = tickets.TicketStore(lambda: self.now, spec["lifetime"],
                                                spec["max_uses"])
            for t in spec.get("entries", []):
                ticket = resumption.decode_ticket(ux(t))
                self.store.entries[ticket.ticket_id] = ticket

    def lookup(self, spec):
        peers = spec.get("peers", {})
        untrusted = spec.get("untrusted", [])
        ead = spec.get("peer_ead", {})

        def lookup(cred_id, got_ead):
            h = hx(cred_id)
            if h in untrusted:
                raise W.UntrustedCredentialError("credential %s is stale" % h)
            if h in ead and ux(ead[h]) != got_ead:
                raise W.UntrustedCredentialError("EAD does not vouch for credential %s" % h)
            if h not in peers:
                return None
            if not spec.get("prepared"):
                return ux(peers[h])
            if peers[h] not in self.prepared:
                self.prepared[peers[h]] = backend.prepare(ux(peers[h]))
            return self.prepared[peers[h]]
        return lookup


def make_party(spec, env, parties, trace):
    role = spec["role"]
    rng = Stream(ux(spec.get("rng", "")))
    lookup = env.lookup(spec)
    if role in ("initiator", "responder"):
        args = (ux(spec["secret"]), ux(spec["pubkey"]), ux(spec["cred_id"]), rng, lookup,
                ux(spec.get("ead", "")), trace)
        if role == "initiator":
            return handshake.Initiator(*args)
        store = env.store if spec.get("tickets") else None
        return handshake_responder.Responder(*args, tickets=store)
    if role == "resume-responder":
        return tickets.ResumeResponder(env.store, rng, trace)
    if "ticket_from" in spec:
        ticket = parties[spec["ticket_from"]].ticket
    else:
        ticket = resumption.decode_ticket(ux(spec["ticket"]))
    return resumption.ResumeInitiator(ticket, rng, lookup if spec.get("check") else None, trace)


def act(party, st):
    if "start" in st:
        return party.start()
    if "in" in st:
        return party.receive(ux(st["in"]))
    if "retransmit" in st:
        return party.retransmit()
    if "seal" in st:
        return party.session.seal(ux(st["seal"]))
    if "open" in st:
        return party.session.open(ux(st["open"]))
    if "ticket" in st:
        return party.ticket.encode() if party.ticket is not None else None
    raise RuntimeError("unknown step %s" % sorted(st))


def outcome(party, st):
    # ("out", hex or None) or ("error", class name); a non-protocol exception is marked "!".
    try:
        out = act(party, st)
        return "out", None if out is None else hx(out)
    except ProtocolError as e:
        return "error", type(e).__name__
    except Exception as e:  # noqa: BLE001 (reported: the vector fails on it)
        return "error", "!" + type(e).__name__ + ": " + str(e)


def merge(base, case):
    # A negative vector names a base vector and what it changes: "override" merges into the
    # base's party specs, "store" and "clock" replace the base's; the steps are its own.
    v = {"name": case["name"], "steps": case["steps"], "parties": {}}
    for pid, spec in base["parties"].items():
        spec = dict(spec)
        spec.update(case.get("override", {}).get(pid, {}))
        v["parties"][pid] = spec
    for key in ("store", "clock"):
        if key in case or key in base:
            v[key] = case[key] if key in case else base[key]
    return v


def load_vectors(root):
    # CPython only: every vector under root (tests/vectors/handshake), negatives merged with
    # their base, as a list of dicts ready for run_vector or for a VM's stdin.
    from pathlib import Path
    root = Path(root)
    bases = {}
    for path in sorted(root.glob("*.json")):
        v = json.loads(path.read_text())
        bases[v["name"]] = v
    out = list(bases.values())
    for path in sorted((root / "negative").glob("*.json")):
        case = json.loads(path.read_text())
        out.append(merge(bases[case["base"]], case))
    return out


def run_vector(v, record=False, keep=None):
    # Runs v's steps; returns a list of mismatches (record=True: fills in the outcomes instead;
    # keep: a dict that receives the party objects at the end).
    env = Env(v)
    traced = {}

    def trace(name, value):
        traced.setdefault(name, set()).add(hx(value))

    parties = {}
    for pid in sorted(v["parties"]):
        parties[pid] = make_party(v["parties"][pid], env, parties, trace)
    bad = []
    for i, st in enumerate(v["steps"]):
        if "clock" in st:
            env.now = st["clock"]
            continue
        pid = st["party"]
        if "reset" in st:
            spec = dict(v["parties"][pid])
            spec.update(st["reset"])
            parties[pid] = make_party(spec, env, parties, trace)
            continue
        kind, got = outcome(parties[pid], st)
        if record:
            st.pop("out", None)
            st.pop("error", None)
            st[kind] = got
        elif kind not in st or st[kind] != got:
            want = ("error " + st["error"]) if "error" in st else ("out " + str(st.get("out")))
            bad.append("step %d (%s): expected %s, got %s %s" % (i, pid, want, kind, got))
    for name in sorted(v.get("trace", {})):
        if traced.get(name) != {v["trace"][name]}:
            bad.append("trace %s: expected %s, got %s" % (name, v["trace"][name],
                                                         sorted(traced.get(name, ()))))
    if record:
        v["traced"] = dict((k, sorted(s)) for k, s in traced.items())
    if keep is not None:
        keep["parties"] = parties
        keep["env"] = env
    return bad


def main():
    count = 0
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        v = json.loads(line)
        bad = run_vector(v)
        print(v["name"], "ok" if not bad else "FAIL " + "; ".join(bad))
        count += 1
        v = None
        gc.collect()
    print("done", count)


if __name__ == "__main__":
    main()
