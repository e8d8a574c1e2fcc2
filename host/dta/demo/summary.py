"""The demo's closing summary: per device, per D-TA, totals; as JSON (written to
`<demo>/summary.json` for scripts) and as the lines an operator reads."""

from __future__ import annotations

from dta.anchor.store import FINAL
from dta.demo.chain import K
from dta.oidc.text import printable


def authority_facts(a, start_size: int) -> dict:
    """One D-TA: its id, birth, log and seal chain as its stores hold them now."""
    store = a.service.log.store
    last = store.last_checkpoint()
    rows = a.anchors()
    sent = [r for r in rows if r.txid]
    birth = rows[0] if rows else None
    return {
        "index": a.index, "name": a.name, "dta_id": a.facts.dta_id.hex(),
        "created_this_run": a.created, "secrets_sealed_with": a.sealed_with,
        "born": None if birth is None or birth.state != FINAL else
        {"txid": birth.txid, "height": birth.height},
        "entries": store.size, "entries_this_run": store.size - start_size,
        "checkpoints": 0 if last is None else last.seq + 1,
        "anchors": [{"kind": "birth" if r.sequence is None else "checkpoint",
                     "sequence": r.sequence, "tree_size": r.tree_size, "txid": r.txid,
                     "height": r.height, "state": r.state} for r in sent],
        "anchored_final": sum(r.state == FINAL for r in rows),
        "devices": a.service.registry.counts(),
    }


def totals(dtas: list[dict], devices: list[dict]) -> dict:
    receipts = [p["receipt"] for d in devices for p in d.get("per_dta", ())]
    return {
        "dtas": len(dtas), "devices": len(devices),
        "devices_complete": sum(d["complete"] for d in devices),
        "entries": sum(t["entries"] for t in dtas),
        "anchors_final": sum(t["anchored_final"] for t in dtas),
        "device_events_logged": sum(d.get("events", {}).get("logged", 0) for d in devices),
        "receipts_verified": sum(r["verified"] for r in receipts),
        "receipts_expected": len(dtas) * len(devices),
    }


def _short(hexid: str | None, n: int = 16) -> str:
    return "-" if not hexid else hexid[:n] + "..."


def _dta_lines(t: dict) -> list[str]:
    born = t["born"]
    birth = (f"born in block {born['height']} (tx {_short(born['txid'])})" if born
             else "NOT BORN yet")
    checkpoints = [a for a in t["anchors"] if a["kind"] == "checkpoint" and a["state"] == FINAL]
    last = (f"; the last one: checkpoint #{checkpoints[-1]['sequence']} "
            f"({checkpoints[-1]['tree_size']} entries), tx {_short(checkpoints[-1]['txid'])} "
            f"in block {checkpoints[-1]['height']}" if checkpoints else "")
    how = "made in this run" if t["created_this_run"] else "found from an earlier run"
    d = t["devices"]
    return [f"  D-TA {t['index']} '{t['name']}', id {_short(t['dta_id'])} ({how}): {birth}",
            f"      log: {t['entries']} entries ({t['entries_this_run']} this run), "
            f"{t['checkpoints']} signed checkpoints; {len(checkpoints)} checkpoints anchored "
            f"{K} deep{last}",
            f"      devices: {d.get('enrolled', 0)} enrolled, {d.get('pending', 0)} pending, "
            f"{d.get('revoked', 0)} revoked"]


def _device_lines(d: dict) -> list[str]:
    head = (f"  {d['name']} ({d['where']}), key id {printable(d['key_id'] or '-', 16)}: "
            + ("COMPLETE" if d["complete"] else "FAILED" if d["failed"] else "NOT DONE"))
    if "per_dta" not in d:
        return [head] + [f"      missing: {printable(m, 120)}" for m in d["missing"]]
    per = d["per_dta"]
    trusted = [str(p["dta"]) for p in per if p["trusted"]]
    sessions = [f"{p['dta']} {p['session']}" for p in per if p["session"]]
    shares = [f"D-TA {r['dta']} entry #{r['log_index']}" for r in d["shares"] if r]
    receipts = [p for p in per if p["receipt"]["verified"]]
    key = d["combined_key"]
    sums = ("= the sum of the D-TA-signed public shares" if key and key == d["shares_sum"]
            else "NOT the sum of the public shares" if key and d["shares_sum"] else "")
    ev = d["events"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(ev["kinds"].items()))
    lines = [head,
             f"      births verified by the device: D-TA {', '.join(trusted) or 'none'}",
             f"      sessions this run: {'; '.join(sessions) or 'none'}",
             f"      shares (epoch 1): {'; '.join(shares) or 'none'}",
             f"      combined key: {key or 'none yet'} {sums}".rstrip(),
             f"      events logged: {ev['logged']}, {ev['this_run']} of them this run "
             f"({kinds or '-'})",
             f"      anchored receipts verified on the device: {len(receipts)} of {len(per)}"]
    lines += [f"      FAILED: {printable(f, 240)}" for f in d["failed"]]
    lines += [f"      missing: {printable(m, 240)}" for m in d["missing"]]
    if d["failures"]:
        lines.append("      failed steps (retried): " + ", ".join(
            f"{printable(k, 24)} x{n}" for k, n in sorted(d["failures"].items())))
    return lines


def render(s: dict) -> list[str]:
    t = s["totals"]
    lines = [f"summary: {t['devices_complete']} of {t['devices']} devices verified everything "
             f"({'all done' if s['complete'] else 'NOT all done'}, after "
             f"{s['elapsed_s']:.0f} s; enrolment was approved automatically by the demo)",
             f" D-TAs ({t['dtas']}, each born and confirmed {K} deep on the demo's regtest "
             "chain):"]
    for dta in s["dtas"]:
        lines += _dta_lines(dta)
    lines.append(f" devices ({t['devices']}):")
    for d in s["devices"]:
        lines += _device_lines(d)
    lines.append(f" totals: {t['entries']} log entries, {t['anchors_final']} anchors {K} deep "
                 f"(births included), {t['device_events_logged']} device events logged, "
                 f"{t['receipts_verified']} of {t['receipts_expected']} anchored receipts "
                 "verified by the devices themselves")
    if s.get("gateway_refusals"):
        lines.append(" gateway refusals: " + ", ".join(
            f"{printable(k, 32)} {n}" for k, n in sorted(s["gateway_refusals"].items())))
    return lines
