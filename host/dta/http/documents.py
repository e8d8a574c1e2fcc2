"""The public documents the API serves, as typed values built from the D-TA's stores: the
/.well-known/dta document, checkpoints, proofs, receipts, the birth receipt and the seal chain.
Routes (dta.http.public) only turn these into responses; Problem says why one cannot be made.

Everything here is what `dta verify --from URL` and `dta shares get` check with dtacore's
functions, so nothing in these documents needs to be trusted by whoever reads them.
"""

from __future__ import annotations

from dta.anchor import evidence
from dta.anchor.store import CONFIRMED, FINAL, AnchorRow
from dta.errors import USER_ERRORS, ChainError, StoreError
from dta.http.context import HttpContext
from dta.http.problems import Problem
from dta.http.seal_chain import FORMAT as SEAL_CHAIN_FORMAT
from dta.log.store import CheckpointRecord
from dtacore import merkle, spv

WELL_KNOWN_FORMAT = "dta-wellknown/1"
# Checkpoints listed per request: a page of the status page's table, a client catching up.
MAX_CHECKPOINTS = 100
# The paths of the API (relative to its base URL), named in /.well-known/dta.
ENDPOINTS = {"shares": "shares", "checkpoint": "checkpoint", "checkpoints": "checkpoints",
             "inclusion_proof": "proofs/inclusion", "consistency_proof": "proofs/consistency",
             "receipt": "receipts/{index}", "birth": "birth", "seal_chain": "seal-chain",
             "status": "status"}


def confirmations(row: AnchorRow | None, tip: int | None) -> int:
    """Confirmations of an anchor: from the node's tip when it answers, else as last stored."""
    if row is None or row.height is None or row.state not in (CONFIRMED, FINAL):
        return 0
    return max(0, tip - row.height + 1) if tip is not None else row.confirmations


def anchor_summary(row: AnchorRow | None, tip: int | None) -> dict | None:
    if row is None:
        return None
    cur = row.current or {}
    return {"step": row.step, "kind": "birth" if row.sequence is None else "checkpoint",
            "sequence": row.sequence, "tree_size": row.tree_size,
            "root": row.root.hex() if row.root else None, "state": row.state,
            "txid": row.txid or cur.get("txid"), "height": row.height,
            "block_hash": row.block_hash, "confirmations": confirmations(row, tip),
            "fee": cur.get("fee"), "vsize": cur.get("vsize"), "created": row.created}


def checkpoint_summary(cp: CheckpointRecord | None) -> dict | None:
    if cp is None:
        return None
    return {"seq": cp.seq, "tree_size": cp.tree_size, "root": cp.root.hex(), "note": cp.note,
            "created_at": cp.created_at}


def well_known(ctx: HttpContext, base: str) -> dict:
    f, rows = ctx.facts, ctx.anchor_rows()
    birth = next((r for r in rows if r.step == 0), None)
    issuers = list(ctx.issuers.issuers) if ctx.issuers is not None else []
    apps = [i for i in issuers if ctx.issuers.verifier(i).accept_apps] if issuers else []
    return {"format": WELL_KNOWN_FORMAT, "dta_id": f.dta_id.hex(), "name": f.name,
            "network": f.network, "identity_pubkey": f.identity_pubkey.hex(),
            "software_version": f.software_version, "created": f.created,
            "birth_record": ctx.birth_record.hex(),
            "birth_anchor": anchor_summary(birth, ctx.height.get()),
            "confirmations_required": ctx.settings.k,
            "checkpoint": checkpoint_summary(ctx.log_store.last_checkpoint()),
            "log_origin": ctx.log_store.origin,
            "audience": ctx.settings.audience, "issuers": issuers, "apps_issuer":
                apps[0] if apps else None,
            "endpoints": {name: base + path for name, path in ENDPOINTS.items()}}


def latest_checkpoint(ctx: HttpContext) -> CheckpointRecord:
    cp = ctx.log_store.last_checkpoint()
    if cp is None:
        raise Problem("not-found", "the log has no checkpoint yet")
    return cp


def checkpoint(ctx: HttpContext, seq: int) -> CheckpointRecord:
    try:
        return ctx.log_store.checkpoint(seq)
    except StoreError:
        raise Problem("not-found", f"no checkpoint {seq}") from None


def checkpoints(ctx: HttpContext, after: int | None, limit: int) -> list[dict]:
    rows = ctx.log_store.checkpoints(after_seq=after)
    if after is None:
        rows = rows[-limit:]
    return [checkpoint_summary(cp) for cp in rows[:limit]]


def _tree_size(ctx: HttpContext, size: int | None) -> int:
    if size is None:
        cp = latest_checkpoint(ctx)
        return cp.tree_size
    if not 0 < size <= ctx.log_store.size:
        raise Problem("not-found", f"tree size {size} is not in 1..{ctx.log_store.size}")
    return size


def inclusion(ctx: HttpContext, index: int, size: int | None) -> dict:
    size = _tree_size(ctx, size)
    if not 0 <= index < size:
        raise Problem("not-found", f"entry {index} is not in a tree of size {size}")
    path = ctx.log_store.inclusion_proof(index=index, size=size)
    return {"index": index, "tree_size": size, "root": ctx.log_store.root(size).hex(),
            "leaf_hash": ctx.log_store.leaf_hash(index).hex(),
            "proof": merkle.encode_inclusion(index=index, size=size, path=path).hex()}


def consistency(ctx: HttpContext, size1: int, size2: int | None) -> dict:
    size2 = _tree_size(ctx, size2)
    if not 0 < size1 <= size2:
        raise Problem("bad-request", f"size1 must be in 1..{size2} (there is no consistency "
                                     "proof from the empty tree)")
    path = ctx.log_store.consistency_proof(size1=size1, size2=size2)
    return {"size1": size1, "size2": size2, "root1": ctx.log_store.root(size1).hex(),
            "root2": ctx.log_store.root(size2).hex(),
            "proof": merkle.encode_consistency(size1=size1, size2=size2, path=path).hex()}


def receipt(ctx: HttpContext, index: int, checkpoint_height: int | None):
    """The entry's receipt, with anchor evidence: the chain proof once its checkpoint (or a
    later one linked to it) is in a block and a node answers, else pending evidence."""
    if not 0 <= index < ctx.log_store.size:
        raise Problem("not-found", f"no entry {index} (the log holds {ctx.log_store.size})")
    try:
        rec = ctx.log_store.receipt(index)
    except StoreError:
        raise Problem("not-ready", f"no checkpoint covers entry {index} yet; the next one "
                                   "will") from None
    try:
        with ctx.anchor_lock:
            return evidence.upgrade(rec, anchors=ctx.anchors, log_store=ctx.log_store,
                                    node=ctx.node, facts=ctx.facts, k=ctx.settings.k,
                                    checkpoint_height=checkpoint_height)
    except ChainError as exc:
        raise Problem("not-ready", f"no anchor evidence for entry {index}: {exc}") from None
    except USER_ERRORS as exc:
        raise Problem("not-ready", f"the node could not give evidence: {exc}") from None


def _birth_row(ctx: HttpContext) -> AnchorRow:
    rows = ctx.anchor_rows()
    row = rows[0] if rows and rows[0].step == 0 else None
    if row is None or row.state not in (CONFIRMED, FINAL) or row.current is None:
        raise Problem("not-ready", "the Birth Record is not in a block yet")
    if ctx.node is None:
        raise Problem("not-ready", "this D-TA has no Bitcoin node to read its evidence from")
    return row


def birth(ctx: HttpContext, checkpoint_height: int | None, k: int | None = None):
    """The dta-birth/1 receipt, Birth Record revealed: what a client checks the D-TA's
    identity key with (dta.verify.verify_birth). Its headers reach k confirmations (the
    D-TA's own k, or more when the client asks for more) or the node's tip."""
    row = _birth_row(ctx)
    k = max(ctx.settings.k, min(k or 0, spv.MAX_HEADERS))
    try:
        return evidence.birth(ctx.node, ctx.facts, ctx.birth_record, txid=row.txid,
                              raw_tx=bytes.fromhex(row.current["raw"]),
                              block_hash=row.block_hash, k=k,
                              checkpoint_height=checkpoint_height)
    except USER_ERRORS as exc:
        raise Problem("not-ready", f"no birth evidence: {exc}") from None


def _step_evidence(ctx: HttpContext, row: AnchorRow) -> dict:
    out = anchor_summary(row, None)
    cur = row.current
    out["tx"] = cur["raw"] if cur else None
    out["txout_proof"] = None
    if row.state in (CONFIRMED, FINAL) and cur is not None:
        out["txout_proof"] = ctx.node.txout_proof(row.txid, row.block_hash)
    return out


def _headers(ctx: HttpContext, start: int, tip: int) -> list[str]:
    if tip - start > spv.MAX_HEADERS:
        raise Problem("bad-request", f"{tip - start} headers after height {start}: more than "
                                     f"one document holds ({spv.MAX_HEADERS}); give a later "
                                     "checkpoint_height")
    node = ctx.node
    return [node.header_hex(node.block_hash(h)) for h in range(start + 1, tip + 1)]


def seal_chain(ctx: HttpContext, checkpoint_height: int | None) -> dict:
    """Every step of the seal chain with its transaction, and for each step in a block its
    merkle proof; the headers from checkpoint_height (default: the birth block's parent) to
    the node's tip. dta.verify.verify_seal_chain checks it all."""
    birth_row = _birth_row(ctx)
    start = birth_row.height - 1 if checkpoint_height is None else checkpoint_height
    if not 0 <= start < birth_row.height:
        raise Problem("bad-request", f"checkpoint_height must be below the birth block "
                                     f"({birth_row.height})")
    try:
        tip = ctx.node.height()
        steps = [_step_evidence(ctx, r) for r in ctx.anchor_rows()]
        headers = _headers(ctx, start, tip)
    except USER_ERRORS as exc:
        raise Problem("not-ready", f"the node could not give the seal chain's evidence: "
                                   f"{exc}") from None
    f = ctx.facts
    return {"format": SEAL_CHAIN_FORMAT, "network": f.network, "dta_id": f.dta_id.hex(),
            "identity_pubkey": f.identity_pubkey.hex(), "confirmations_required": ctx.settings.k,
            "checkpoint_height": start, "headers": headers, "steps": steps}


__all__ = ["ENDPOINTS", "MAX_CHECKPOINTS", "SEAL_CHAIN_FORMAT", "WELL_KNOWN_FORMAT",
           "anchor_summary", "birth", "checkpoint", "checkpoint_summary", "checkpoints",
           "confirmations", "consistency", "inclusion", "latest_checkpoint", "receipt",
           "seal_chain", "well_known"]
