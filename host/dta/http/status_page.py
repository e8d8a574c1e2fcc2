"""The D-TA's read-only status page, rendered on the server (no JavaScript, no build step):
identity and Birth Record with its confirmations, the seal chain as a timeline (anchors, fees,
confirmations, pending roots), the latest checkpoints with their sizes, devices by state,
refusal counters, and a plot of log growth and anchoring cost over time (dta.http.plot).

``model(ctx)`` gathers typed values (also what the tests compare the page with); ``render``
makes the HTML. Every value that came from outside (device boards and firmware names, the
registry's refusal reasons) is escaped by html.escape.
"""

from __future__ import annotations

import datetime
import threading
from html import escape

import dta.http.plot as plot
from dta.anchor.store import CONFIRMED, FINAL
from dta.gateway.registry import STATES, Registry
from dta.http.context import HttpContext
from dta.http.documents import anchor_summary
from dtacore import entries
from dtacore.errors import ProtocolError

# The page lists this many checkpoints and devices (the newest); the counts cover all of them.
SHOWN_CHECKPOINTS = 10
SHOWN_DEVICES = 50
# Entries the refusal census reads per page load: a page for a log of millions is ready at
# once, and the census catches up over the next loads (the page says how far it got).
CENSUS_BATCH = 50_000
SHARE_REFUSAL_NAMES = {entries.REFUSED_UNAUTHENTICATED: "unauthenticated",
                       entries.REFUSED_NOT_ENROLLED: "not-enrolled",
                       entries.REFUSED_RATE_LIMITED: "rate-limited",
                       entries.REFUSED_POLICY: "policy"}


class LogCensus:
    """ShareIssued and ShareRefused entries (by reason) in the log, counted incrementally."""

    def __init__(self):
        self._lock = threading.Lock()
        self.scanned = 0
        self.issued = 0
        self.refused: dict[str, int] = {}

    def update(self, log_store) -> dict:
        with self._lock:
            end = min(log_store.size, self.scanned + CENSUS_BATCH)
            for i in range(self.scanned, end):
                self._count(log_store.entry(i))
            self.scanned = end
            return {"scanned": self.scanned, "issued": self.issued,
                    "refused": dict(sorted(self.refused.items()))}

    def _count(self, data: bytes) -> None:
        if len(data) < 2 or data[1] not in (entries.SHARE_ISSUED, entries.SHARE_REFUSED):
            return
        if data[1] == entries.SHARE_ISSUED:
            self.issued += 1
            return
        try:
            reason = SHARE_REFUSAL_NAMES.get(entries.decode(data).reason, "other")
        except ProtocolError:
            reason = "undecodable"
        self.refused[reason] = self.refused.get(reason, 0) + 1


def _devices(ctx: HttpContext) -> dict:
    reg = Registry.existing(ctx.registry_path) if ctx.registry_path is not None else None
    if reg is None:
        return {"counts": {s: 0 for s in STATES}, "shown": [], "refused_frames": {}}
    try:
        devices = reg.devices()
        return {"counts": reg.counts(), "refused_frames": reg.rejections(),
                "shown": [{"key_id": d.key_id, "state": d.state, "board": d.board,
                           "firmware": d.firmware, "last_seen": d.last_seen}
                          for d in sorted(devices, key=lambda d: -d.last_seen)[:SHOWN_DEVICES]]}
    finally:
        reg.close()


def _series(ctx: HttpContext, rows) -> tuple[list, list]:
    growth = [(cp.created_at, cp.tree_size) for cp in ctx.log_store.checkpoints()]
    spent, cost = 0, []
    for row in sorted((r for r in rows if r.state in (CONFIRMED, FINAL)), key=lambda r: r.created):
        spent += (row.current or {}).get("fee") or 0
        cost.append((row.created, spent))
    return growth, cost


def model(ctx: HttpContext, census: LogCensus) -> dict:
    rows, tip = ctx.anchor_rows(), ctx.height.get()
    steps = [anchor_summary(r, tip) for r in rows]
    birth = steps[0] if steps and steps[0]["kind"] == "birth" else None
    queued = max((r.tree_size or 0 for r in rows), default=0)
    cps = ctx.log_store.checkpoints()
    growth, cost = _series(ctx, rows)
    f = ctx.facts
    return {"identity": {"name": f.name, "dta_id": f.dta_id.hex(), "network": f.network,
                         "identity_pubkey": f.identity_pubkey.hex(),
                         "software_version": f.software_version, "created": f.created},
            "birth": birth, "k": ctx.settings.k, "tip": tip, "steps": steps,
            "fees_spent": sum(s["fee"] or 0 for s in steps
                              if s["state"] in (CONFIRMED, FINAL)),
            "unqueued_checkpoints": [c.seq for c in cps if c.tree_size > queued],
            "log": {"tree_size": ctx.log_store.size, "checkpoints": len(cps)},
            "checkpoints": [{"seq": c.seq, "tree_size": c.tree_size, "root": c.root.hex(),
                             "created_at": c.created_at}
                            for c in reversed(cps[-SHOWN_CHECKPOINTS:])],
            "devices": _devices(ctx), "shares": census.update(ctx.log_store),
            "http_refusals": ctx.refusals.snapshot(), "growth": growth, "cost": cost}


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def _table(cls: str, head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _identity(m: dict) -> str:
    i, b = m["identity"], m["birth"]
    lines = [f"<h1>D-TA {escape(i['name'])}</h1>",
             f'<dl><dt>id</dt><dd class="mono" id="dta-id">{i["dta_id"]}</dd>',
             f"<dt>network</dt><dd>{escape(i['network'])}</dd>",
             f'<dt>identity key</dt><dd class="mono">{i["identity_pubkey"]}</dd>',
             f"<dt>software</dt><dd>{escape(i['software_version'])}</dd>",
             f"<dt>created</dt><dd>{_when(i['created'])}</dd></dl>"]
    if b is None:
        birth = "not queued for anchoring yet"
    else:
        where = f"block {b['height']}" if b["height"] is not None else "not in a block yet"
        birth = (f'<span class="state {b["state"]}">{b["state"]}</span>, {where}, '
                 f'<span id="birth-confirmations">{b["confirmations"]}</span> confirmations '
                 f"({m['k']} required), tx <span class=\"mono\">{b['txid'] or '-'}</span>")
    return ('<section id="identity">' + "".join(lines) + '</section><section id="birth">'
            f"<h2>Birth Record</h2><p>{birth}</p></section>")


def _step_line(s: dict) -> str:
    what = "Birth Record" if s["kind"] == "birth" else (
        f"checkpoint {s['sequence']}: {s['tree_size']:,} entries")
    where = (f"block {s['height']}, {s['confirmations']} confirmations"
             if s["height"] is not None else "no block yet")
    fee = f"{s['fee']:,} sat ({s['vsize']} vB)" if s["fee"] is not None else "not signed yet"
    txid = s["txid"] or "-"
    return (f'<li class="step {s["state"]}"><span class="dot"></span><b>{what}</b> '
            f'<span class="state {s["state"]}">{s["state"]}</span> · {where} · {fee} · '
            f'<span class="mono">tx {txid[:16]}…</span> · queued {_when(s["created"])}</li>')


def _seal_chain(m: dict) -> str:
    items = "".join(_step_line(s) for s in m["steps"]) or "<li>nothing anchored yet</li>"
    pending = [s for s in m["steps"] if s["state"] == "pending"]
    waiting = m["unqueued_checkpoints"]
    note = (f"<p>{len(pending)} pending roots (signed or waiting for a node); "
            f"{len(waiting)} closed checkpoints wait for the next anchor window"
            f"{' (' + ', '.join(map(str, waiting[-10:])) + ')' if waiting else ''}; "
            f"fees spent <b id=\"fees-spent\">{m['fees_spent']:,}</b> sat; node height "
            f"{m['tip'] if m['tip'] is not None else 'unknown (no node answers)'}.</p>")
    return f'<section id="seal-chain"><h2>Seal chain</h2><ol class="timeline">{items}</ol>{note}' \
           "</section>"


def _checkpoints(m: dict) -> str:
    rows = [[str(c["seq"]), f"{c['tree_size']:,}", f'<span class="mono">{c["root"][:16]}…</span>',
             _when(c["created_at"])] for c in m["checkpoints"]]
    return (f'<section id="checkpoints"><h2>Latest checkpoints</h2><p>{m["log"]["tree_size"]:,} '
            f"entries, {m['log']['checkpoints']:,} checkpoints</p>"
            + _table("checkpoints", ["seq", "tree size", "root", "closed"], rows) + "</section>")


def _devices_html(m: dict) -> str:
    d = m["devices"]
    counts = " ".join(f'<span class="count" id="devices-{s}">{s}: {d["counts"].get(s, 0)}</span>'
                      for s in STATES)
    rows = [[f'<span class="mono">{escape(x["key_id"])}</span>', escape(x["state"]),
             escape(x["board"]), escape(x["firmware"]), _when(x["last_seen"])]
            for x in d["shown"]]
    return (f'<section id="devices"><h2>Devices</h2><p>{counts}</p>'
            + _table("devices", ["key id", "state", "board", "firmware", "last seen"], rows)
            + "</section>")


def _counter_rows(counts: dict) -> list[list[str]]:
    return [[escape(str(k)), f"{v:,}"] for k, v in sorted(counts.items())]


def _refusals(m: dict) -> str:
    s, h, frames = m["shares"], m["http_refusals"], m["devices"]["refused_frames"]
    return ('<section id="refusals"><h2>Refusals</h2>'
            f"<p>Shares issued (log): {s['issued']:,}; refused (log, ShareRefused): "
            f"{sum(s['refused'].values()):,} (counted over {s['scanned']:,} entries).</p>"
            + _table("share-refusals", ["ShareRefused reason", "entries"],
                     _counter_rows(s["refused"]))
            + f"<p>Share requests refused over HTTP since start: logged {h['logged']:,}, over the "
            f"log budget (counted only) {h['unlogged']:,}.</p>"
            + _table("http-refusals", ["HTTP refusal", "requests"],
                     _counter_rows(h["by_reason"]))
            + "<p>Device frames the gateway refused, by reason:</p>"
            + _table("frame-refusals", ["refused device frames", "count"],
                     _counter_rows(frames)) + "</section>")


_STYLE = """body{font-family:sans-serif;margin:24px;max-width:980px;color:#1f2328}
h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px}
.mono{font-family:monospace;font-size:12px}dl{display:grid;grid-template-columns:120px 1fr}
dt{color:#555}table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;
border-bottom:1px solid #eee;text-align:left}.timeline{list-style:none;padding-left:8px}
.step{border-left:3px solid #ccc;padding:4px 12px;font-size:13px}.step.final{border-color:#1a7f37}
.step.confirmed{border-color:#9a6700}.step.unconfirmed,.step.pending{border-color:#cf222e}
.state{font-weight:bold}.count{margin-right:16px}"""


def render(m: dict) -> str:
    title = f"D-TA {m['identity']['name']}: status"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
            + _identity(m) + _seal_chain(m) + _checkpoints(m)
            + '<section id="growth"><h2>Log growth and anchoring cost</h2>'
            + plot.growth_and_cost(m["growth"], m["cost"]) + "</section>"
            + _devices_html(m) + _refusals(m)
            + f"<footer><p>Rendered {_when(datetime.datetime.now().timestamp())}.</p></footer>"
            "</body></html>")


__all__ = ["LogCensus", "model", "render"]
