"""Regenerate tests/vectors/handshake/ (.venv/bin/python tests/vectors/handshake/make_vectors.py).

Fixed keys (SHA-256 of labels) and fixed randomness streams, run through dtacore on CPython
(coincurve + cryptography) by the same runner the VM uses (tests/device/vm/handshake_vectors.py,
record mode). The tests then run every vector on both implementations and recompute the key
schedule independently (tests/unit/test_handshake_schedule.py), so a vector is not just the
host's opinion. Positive vectors carry every intermediate value ("trace"); negative vectors
(negative/<name>.json) name a base vector, what they change, and the typed error they expect.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import coincurve

HERE = Path(__file__).resolve().parent
RUNNER_PATH = HERE.parents[1] / "device" / "vm" / "handshake_vectors.py"
_spec = importlib.util.spec_from_file_location("handshake_vectors", RUNNER_PATH)
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

CLOCK = 1_000_000  # the responder's clock (seconds) when the full handshake runs
LIFETIME = 86_400
MAX_USES = 96
DEVICE_SHORT_ID = "2a"  # a short id given to the device at enrolment
DTA_INDEX = "00"  # the D-TA's index in the device's provisioned list
OTHER_INDEX = "01"


def key(label: str) -> tuple[str, str]:
    secret = hashlib.sha256(b"dta handshake vector: " + label.encode()).digest()
    return secret.hex(), coincurve.PrivateKey(secret).public_key.format(True).hex()


def key_id(pub: str) -> str:
    return hashlib.sha256(bytes.fromhex(pub)).digest()[:8].hex()


def stream(label: str, n: int = 192) -> str:
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"dta handshake rng: " + label.encode() + bytes((i,))).digest()
        i += 1
    return out[:n].hex()


DEVICE = key("device")
DTA = key("d-ta 0")
OTHER_DTA = key("d-ta 1")
ATTACKER = key("attacker")
PEER_DEVICE = key("peer device")


def full_parties(device_id: str = DEVICE_SHORT_ID, dta_id: str = DTA_INDEX) -> dict:
    return {
        "I": {"role": "initiator", "secret": DEVICE[0], "pubkey": DEVICE[1], "cred_id": device_id,
              "rng": stream("initiator"), "prepared": True,
              "peers": {dta_id: DTA[1], OTHER_INDEX: OTHER_DTA[1]}},
        "R": {"role": "responder", "secret": DTA[0], "pubkey": DTA[1], "cred_id": dta_id,
              "rng": stream("responder"), "tickets": True, "peers": {device_id: DEVICE[1]}},
    }


def new_vector(name: str, parties: dict, store: dict | None = None) -> dict:
    v = {"name": name, "parties": parties, "steps": [], "clock": CLOCK}
    if store is not None:
        v["store"] = store
    return v


def do(v: dict, **step) -> tuple[str | None, str | None]:
    """Append a step, run the vector in record mode, return the step's (out, error)."""
    step = {("in" if k == "msg" else k): val for k, val in step.items()}
    v["steps"].append(step)
    tmp = json.loads(json.dumps(v))
    runner.run_vector(tmp, record=True)
    v["steps"][-1] = last = tmp["steps"][-1]
    v["traced"] = tmp["traced"]
    if "error" in last and last["error"].startswith("!"):
        raise SystemExit(f"{v['name']}: untyped error {last['error']}")
    return last.get("out"), last.get("error")


def run_full(v: dict) -> list[str]:
    m1, _ = do(v, party="I", start=True)
    m2, _ = do(v, party="R", msg=m1)
    m3, _ = do(v, party="I", msg=m2)
    m4, _ = do(v, party="R", msg=m3)
    assert do(v, party="I", msg=m4) == (None, None), v["name"]
    return [m1, m2, m3, m4]


def records(v: dict, first: str, second: str) -> None:
    rec, _ = do(v, party=first, seal=b"ping".hex())
    assert do(v, party=second, open=rec)[0] == b"ping".hex()
    rec, _ = do(v, party=second, seal=b"pong".hex())
    assert do(v, party=first, open=rec)[0] == b"pong".hex()


def finish(v: dict) -> dict:
    traced = v.pop("traced")
    v["trace"] = {k: vals[0] for k, vals in sorted(traced.items()) if len(vals) == 1}
    return v


def sizes(msgs: list[str], names: list[str]) -> dict:
    out = {n: len(m) // 2 for n, m in zip(names, msgs, strict=True)}
    if "message_3" in out:
        out["messages_1_to_3"] = out["message_1"] + out["message_2"] + out["message_3"]
    out["total"] = sum(len(m) // 2 for m in msgs)
    return out


def write(path: Path, v: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(v, indent=1, sort_keys=True) + "\n")


def positive_full() -> tuple[dict, list[str]]:
    v = new_vector("full", full_parties(), {"lifetime": LIFETIME, "max_uses": MAX_USES})
    msgs = run_full(v)
    do(v, party="I", ticket=True)
    records(v, "I", "R")
    v["sizes"] = sizes(msgs, ["message_1", "message_2", "message_3", "message_4"])
    return finish(v), msgs


def positive_variants() -> list[dict]:
    out = []
    parties = full_parties(device_id=key_id(DEVICE[1]))
    del parties["R"]["tickets"]  # this responder issues no ticket: message_4 is 10 bytes
    v = new_vector("full-kid8", parties)
    msgs = run_full(v)
    records(v, "I", "R")
    v["sizes"] = sizes(msgs, ["message_1", "message_2", "message_3", "message_4"])
    out.append(finish(v))
    # device to device: both 8-byte key ids and an EAD the other side's lookup checks (a stand-in
    # for a federation voucher: 72 opaque bytes each way)
    ead_i, ead_r = bytes(range(72)).hex(), bytes(range(100, 172)).hex()
    kid_i, kid_r = key_id(DEVICE[1]), key_id(PEER_DEVICE[1])
    parties = {
        "I": {"role": "initiator", "secret": DEVICE[0], "pubkey": DEVICE[1], "cred_id": kid_i,
              "ead": ead_i, "rng": stream("initiator"), "peers": {kid_r: PEER_DEVICE[1]},
              "peer_ead": {kid_r: ead_r}},
        "R": {"role": "responder", "secret": PEER_DEVICE[0], "pubkey": PEER_DEVICE[1],
              "cred_id": kid_r, "ead": ead_r, "rng": stream("responder"),
              "peers": {kid_i: DEVICE[1]}, "peer_ead": {kid_i: ead_i}},
    }
    v = new_vector("full-device-to-device", parties)
    msgs = run_full(v)
    records(v, "R", "I")
    v["sizes"] = sizes(msgs, ["message_1", "message_2", "message_3", "message_4"])
    out.append(finish(v))
    return out


def positive_duplicates() -> dict:
    # Lost and duplicated deliveries: every duplicate gets the cached reply, retransmit()
    # repeats the last message sent, records arrive out of order within the window.
    v = new_vector("full-duplicates", full_parties(), {"lifetime": LIFETIME,
                                                       "max_uses": MAX_USES})
    m1, _ = do(v, party="I", start=True)
    assert do(v, party="I", retransmit=True)[0] == m1
    m2, _ = do(v, party="R", msg=m1)
    assert do(v, party="R", msg=m1)[0] == m2
    m3, _ = do(v, party="I", msg=m2)
    assert do(v, party="I", msg=m2)[0] == m3
    assert do(v, party="I", retransmit=True)[0] == m3
    m4, _ = do(v, party="R", msg=m3)
    assert do(v, party="R", msg=m3)[0] == m4
    do(v, party="I", msg=m4)
    assert do(v, party="I", msg=m4) == (None, None)
    recs = [do(v, party="I", seal=bytes((i,)).hex())[0] for i in range(3)]
    for i in (2, 0, 1):
        assert do(v, party="R", open=recs[i])[0] == bytes((i,)).hex()
    finish(v)
    del v["trace"]
    return v


def resumed_base(full: dict) -> dict:
    # The state a full handshake leaves: the initiator's ticket and the responder's store entry.
    keep: dict = {}
    runner.run_vector(json.loads(json.dumps(full)), keep=keep)
    ticket = keep["parties"]["I"].ticket.encode().hex()
    entries = [t.encode().hex() for t in keep["env"].store.entries.values()]
    store = {"lifetime": LIFETIME, "max_uses": MAX_USES, "entries": entries}
    parties = {
        "I": {"role": "resume-initiator", "ticket": ticket, "rng": stream("resume initiator"),
              "check": True, "peers": {DTA_INDEX: DTA[1]}},
        "R": {"role": "resume-responder", "rng": stream("resume responder")},
    }
    v = new_vector("resumed", parties, store)
    v["clock"] = CLOCK + 3600
    return v


def run_resume(v: dict) -> list[str]:
    r1, _ = do(v, party="I", start=True)
    r2, _ = do(v, party="R", msg=r1)
    assert do(v, party="I", msg=r2) == (None, None), v["name"]
    return [r1, r2]


def positive_resumed(base: dict) -> tuple[dict, list[str], dict]:
    v = json.loads(json.dumps(base))
    msgs = run_resume(v)
    do(v, party="I", ticket=True)
    records(v, "I", "R")
    v["sizes"] = sizes(msgs, ["resume_1", "resume_2"])
    # the second use starts from the state the first one left on both sides
    keep: dict = {}
    runner.run_vector(json.loads(json.dumps(v)), keep=keep)
    second = json.loads(json.dumps(base))
    second["name"] = "resumed-second-use"
    second["parties"]["I"]["ticket"] = keep["parties"]["I"].ticket.encode().hex()
    second["store"]["entries"] = [t.encode().hex() for t in keep["env"].store.entries.values()]
    second["parties"]["I"]["rng"] = stream("resume initiator 2")
    second["parties"]["R"]["rng"] = stream("resume responder 2")
    run_resume(second)
    return finish(v), msgs, finish(second)


# ---- negative vectors ---------------------------------------------------------------------
def flip(msg: str, i: int) -> str:
    b = bytearray.fromhex(msg)
    b[i] ^= 0xFF
    return b.hex()


def mutations(name: str, msg: str) -> list[tuple[str, str]]:
    """(change name, mutated message): each byte flipped, truncations, one extra byte."""
    n = len(msg) // 2
    out = [(f"{name}-byte-{i:03d}-flipped", flip(msg, i)) for i in range(n)]
    for k in sorted({0, 1, 2, n // 2, n - 1}):
        out.append((f"{name}-truncated-to-{k}", msg[:2 * k]))
    out.append((f"{name}-extra-byte", msg + "00"))
    return out


class Negatives:
    """Builds negative cases against a base vector; each must end in the expected typed error
    and, where the receiver's state matters, be followed by the genuine message, which must
    still be accepted (a refused message changes nothing)."""

    def __init__(self, base: dict, base_name: str):
        self.base = base
        self.base_name = base_name
        self.cases: list[dict] = []

    def case(self, name: str, steps, override=None, store=None, expect=None) -> dict:
        v = runner.merge(self.base, {"name": name, "steps": [], "override": override or {}})
        if store is not None:
            v["store"] = store
        errors = [err for _, err in (do(v, **st) for st in steps) if err]
        assert errors, f"{name}: nothing refused"
        if expect is not None:
            assert errors[-1] in expect, f"{name}: {errors[-1]} not in {expect}"
        rec = {"name": name, "base": self.base_name, "steps": v["steps"]}
        if override:
            rec["override"] = override
        if store is not None:
            rec["store"] = store
        self.cases.append(rec)
        return rec


def negatives_full(full: dict, msgs: list[str]) -> list[dict]:
    m1, m2, m3, m4 = msgs
    neg = Negatives(full, "full")
    start = [{"party": "I", "start": True}]
    to_m2 = start + [{"party": "R", "msg": m1}]
    to_m3 = to_m2 + [{"party": "I", "msg": m2}]
    to_m4 = to_m3 + [{"party": "R", "msg": m3}]
    for name, bad in mutations("message_1", m1):
        v = runner.merge(full, {"name": name, "steps": []})
        out, err = do(v, **start[0])
        out, err = do(v, party="R", msg=bad)
        steps = start + [{"party": "R", "msg": bad}]
        if err is None:  # message_1 has no integrity of its own: the initiator refuses the reply
            steps.append({"party": "I", "msg": out})
        neg.case(name, steps)
    for name, bad in mutations("message_2", m2):
        neg.case(name, to_m2 + [{"party": "I", "msg": bad}, {"party": "I", "msg": m2},
                                {"party": "R", "msg": m3}, {"party": "I", "msg": m4}])
    for name, bad in mutations("message_3", m3):
        neg.case(name, to_m3 + [{"party": "R", "msg": bad}, {"party": "R", "msg": m3},
                                {"party": "I", "msg": m4}])
    for name, bad in mutations("message_4", m4):
        neg.case(name, to_m4 + [{"party": "I", "msg": bad}, {"party": "I", "msg": m4}])
    swaps(neg, msgs, start, to_m2, to_m3, to_m4)
    credentials(neg, m1, m2, to_m2, to_m3)
    limits(neg, msgs, start, to_m2, to_m4)
    return neg.cases


def swaps(neg, msgs, start, to_m2, to_m3, to_m4):
    m1, m2, m3, m4 = msgs
    unexpected = ("UnexpectedMessageError",)
    for name, steps in (
            ("message_1-to-initiator", start + [{"party": "I", "msg": m1}]),
            ("message_2-to-responder", to_m2 + [{"party": "R", "msg": m2}]),
            ("message_3-before-message_2", to_m2 + [{"party": "I", "msg": m3}]),
            ("message_4-before-message_2", to_m2 + [{"party": "I", "msg": m4}]),
            ("message_3-to-fresh-responder", [{"party": "R", "msg": m3}]),
            ("message_4-to-responder", to_m4 + [{"party": "R", "msg": m4}]),
            ("message_1-after-completion", to_m4 + [{"party": "R", "msg": m1}]),
            ("message_2-after-completion", to_m4 + [{"party": "I", "msg": m4},
                                                    {"party": "I", "msg": m2}]),
            ("message_2-swapped-with-message_3", to_m2 + [{"party": "R", "msg": m2},
                                                          {"party": "I", "msg": m3}])):
        neg.case(name, steps, expect=unexpected)
    # a message_3 recorded from a finished handshake, replayed into a new one (the attacker
    # replays message_1 too): as it is, it names the old session's C_R; readdressed to the new
    # C_R (an attacker can try all 256), the new session's keys differ and the tag fails
    replay = to_m4 + [{"party": "R", "reset": {"rng": stream("replay")}}, {"party": "R", "msg": m1}]
    neg.case("message_3-replayed", replay + [{"party": "R", "msg": m3}], expect=unexpected)
    v = runner.merge(neg.base, {"name": "replay", "steps": []})
    for st in replay:
        do(v, **st)
    keep: dict = {}
    runner.run_vector(v, keep=keep)
    readdressed = m3[:2] + "%02x" % keep["parties"]["R"].conn_id + m3[4:]
    neg.case("message_3-replayed-readdressed", replay + [{"party": "R", "msg": readdressed}],
             expect=("BadTagError",))
    neg.case("message_2-misrouted", to_m2 + [{"party": "I", "msg": m2[:2] + "ff" + m2[4:]}],
             expect=unexpected)


def changed_responder(neg, m1, override, name, expect):
    """The responder, changed by override, answers the genuine message_1; the initiator refuses."""
    start = [{"party": "I", "start": True}]
    v = runner.merge(neg.base, {"name": name, "steps": [], "override": override})
    do(v, **start[0])
    bad, _ = do(v, party="R", msg=m1)
    neg.case(name, start + [{"party": "R", "msg": m1}, {"party": "I", "msg": bad}],
             override=override, expect=expect)


def changed_initiator(neg, m2, to_m2, override, name, expect):
    """The initiator, changed by override, answers the genuine message_2; the responder refuses."""
    v = runner.merge(neg.base, {"name": name, "steps": [], "override": override})
    for st in to_m2:
        do(v, **st)
    bad, _ = do(v, party="I", msg=m2)
    neg.case(name, to_m2 + [{"party": "I", "msg": m2}, {"party": "R", "msg": bad}],
             override=override, expect=expect)


def credentials(neg, m1, m2, to_m2, to_m3):
    start = to_m2[:1]
    for override, name, expect in (
            ({"R": {"cred_id": "07"}}, "wrong-key-id-unknown", "UnknownCredentialError"),
            ({"R": {"cred_id": OTHER_INDEX}}, "wrong-key-id-other-d-ta", "BadSignatureError"),
            ({"R": {"secret": ATTACKER[0]}}, "signature-by-another-key", "BadSignatureError"),
            ({"I": {"untrusted": [DTA_INDEX]}}, "stale-d-ta", "UntrustedCredentialError")):
        changed_responder(neg, m1, override, name, (expect,))
    for override, name, expect in (
            ({"I": {"secret": ATTACKER[0]}}, "initiator-signature-by-another-key",
             "BadSignatureError"),
            ({"R": {"peers": {}}}, "initiator-unknown-key-id", "UnknownCredentialError"),
            ({"I": {"cred_id": "2b"}}, "initiator-wrong-key-id", "UnknownCredentialError")):
        changed_initiator(neg, m2, to_m2, override, name, (expect,))
    # curve and suite checks on message_1 and message_2 (x = 5: 5^3 + 7 is not a square mod p)
    off_curve = "05".rjust(64, "0")
    neg.case("message_1-G_X-not-on-curve",
             [{"party": "R", "msg": m1[:4] + off_curve + m1[68:]}], expect=("MessageDecodeError",))
    neg.case("message_1-G_X-above-field-prime",
             [{"party": "R", "msg": m1[:4] + "ff" * 32 + m1[68:]}], expect=("MessageDecodeError",))
    neg.case("message_1-unsupported-suite", [{"party": "R", "msg": m1[:2] + "02" + m1[4:]}],
             expect=("UnsupportedSuiteError",))
    neg.case("message_2-G_Y-not-on-curve",
             start + [{"party": "I", "msg": m2[:4] + off_curve + m2[68:]},
                      {"party": "I", "msg": m2}], expect=("MessageDecodeError",))
    neg.case("message_2-peer-error-message",
             to_m2 + [{"party": "I", "msg": "1f" + m2[2:4] + "02"}, {"party": "I", "msg": m2}],
             expect=("PeerError",))


def limits(neg, msgs, start, to_m2, to_m4):
    m1, m2, m3, m4 = msgs
    bad = flip(m2, 50)
    neg.case("message_2-refused-too-often", to_m2 + [{"party": "I", "msg": bad}] * 3
             + [{"party": "I", "msg": m2}], expect=("AbortedError",))
    neg.case("message_1-retransmitted-too-often", start + [{"party": "I", "retransmit": True}] * 5,
             expect=("AbortedError",))
    # records: replayed, outside the window, modified, misrouted, truncated
    seal = [{"party": "I", "seal": bytes((i,)).hex()} for i in range(66)]
    v = runner.merge(neg.base, {"name": "records", "steps": []})
    for st in to_m4 + [{"party": "I", "msg": m4}] + seal:
        do(v, **st)
    recs = [st["out"] for st in v["steps"][-66:]]
    done = to_m4 + [{"party": "I", "msg": m4}] + seal
    neg.case("record-replayed", done + [{"party": "R", "open": recs[0]},
                                       {"party": "R", "open": recs[0]}], expect=("ReplayError",))
    neg.case("record-older-than-window", done + [{"party": "R", "open": recs[65]},
                                                {"party": "R", "open": recs[0]},
                                                {"party": "R", "open": recs[1]}],
             expect=("ReplayError",))
    neg.case("record-byte-flipped", done + [{"party": "R", "open": flip(recs[0], 8)},
                                           {"party": "R", "open": recs[0]}],
             expect=("BadTagError",))
    neg.case("record-misrouted", done + [{"party": "R", "open": flip(recs[0], 1)}],
             expect=("UnexpectedMessageError",))
    neg.case("record-truncated", done + [{"party": "R", "open": recs[0][:26]}],
             expect=("MessageDecodeError",))
    neg.case("record-to-the-sender", done + [{"party": "I", "open": recs[0]}],
             expect=("UnexpectedMessageError", "BadTagError"))


def negatives_resumed(base: dict, msgs: list[str]) -> list[dict]:
    r1, r2 = msgs
    neg = Negatives(base, "resumed")
    start = [{"party": "I", "start": True}]
    to_r2 = start + [{"party": "R", "msg": r1}]
    for name, bad in mutations("resume_1", r1):
        neg.case(name, start + [{"party": "R", "msg": bad}, {"party": "R", "msg": r1},
                                {"party": "I", "msg": r2}])
    for name, bad in mutations("resume_2", r2):
        neg.case(name, to_r2 + [{"party": "I", "msg": bad}, {"party": "I", "msg": r2}])
    done = to_r2 + [{"party": "I", "msg": r2}]
    neg.case("resume_1-replayed", done + [{"party": "R", "reset": {"rng": stream("replay")}},
                                         {"party": "R", "msg": r1}], expect=("ReplayError",))
    neg.case("resume_1-after-ticket-expiry", start + [{"clock": CLOCK + LIFETIME},
                                                      {"party": "R", "msg": r1}],
             expect=("TicketRejectedError",))
    store = dict(base["store"])
    store["entries"] = []
    neg.case("resume_1-unknown-ticket", start + [{"party": "R", "msg": r1}], store=store,
             expect=("TicketRejectedError",))
    neg.case("resume-with-stale-d-ta", start, override={"I": {"untrusted": [DTA_INDEX]}},
             expect=("UntrustedCredentialError",))
    # a ticket used up on the initiator's side, and a use beyond the responder's limit (the
    # initiator's copy claims more uses than it was given: its binder is valid, the use is not)
    t = bytearray.fromhex(base["parties"]["I"]["ticket"])
    used = t[:]
    used[9] = MAX_USES
    neg.case("ticket-used-up", start, override={"I": {"ticket": used.hex()}},
             expect=("TicketRejectedError",))
    over = used[:]
    over[10] = 255
    beyond = {"I": {"ticket": over.hex()}}
    v = runner.merge(base, {"name": "beyond", "steps": [], "override": beyond})
    r1_over, _ = do(v, party="I", start=True)
    neg.case("resume_1-use-beyond-ticket-limit", start + [{"party": "R", "msg": r1_over}],
             override=beyond, expect=("TicketRejectedError",))
    for name, steps in (("resume_2-to-responder", to_r2 + [{"party": "R", "msg": r2}]),
                        ("resume_1-to-initiator", start + [{"party": "I", "msg": r1}])):
        neg.case(name, steps, expect=("UnexpectedMessageError",))
    return neg.cases


def main() -> None:
    full, msgs = positive_full()
    variants = positive_variants()
    dup = positive_duplicates()
    rbase = resumed_base(full)
    resumed, rmsgs, second = positive_resumed(rbase)
    neg = negatives_full(full, msgs) + negatives_resumed(resumed, rmsgs)
    if (HERE / "negative").exists():
        shutil.rmtree(HERE / "negative")
    for v in [full, *variants, dup, resumed, second]:
        write(HERE / f"{v['name']}.json", v)
    for case in neg:
        write(HERE / "negative" / f"{case['name']}.json", case)
    print(f"{len(variants) + 4} positive vectors, {len(neg)} negative; sizes:",
          full["sizes"], variants[0]["sizes"], resumed["sizes"])


if __name__ == "__main__":
    main()
