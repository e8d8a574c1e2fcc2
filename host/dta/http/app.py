"""The D-TA's HTTP API as a Starlette app: ``create_app(ctx)``.

    GET  /.well-known/dta            who this D-TA is and where its API is (JSON)
    GET  /checkpoint                 the latest signed checkpoint (C2SP note, text/plain)
    GET  /checkpoints[?after=S&limit=N]  checkpoints (JSON); /checkpoints/{seq}: one note
    GET  /proofs/inclusion?index=I[&tree_size=N]     RFC 9162 inclusion proof (JSON)
    GET  /proofs/consistency?size1=A[&size2=B]       RFC 9162 consistency proof (JSON)
    GET  /receipts/{index}[?checkpoint_height=H]     the entry's receipt, anchored when it can be
    GET  /birth[?checkpoint_height=H&k=K]            the birth receipt, Birth Record revealed
    GET  /seal-chain[?checkpoint_height=H]           every anchor with its evidence
    POST /shares                     a share for the bearer token's subject (dta.http.share_route)
    GET  /status                     the status page (HTML); / redirects to it
    GET  /problems/{slug}            what a problem type means

Handlers are plain functions: Starlette runs them on its thread pool, so the stores, the node
and the log's group commit are used from threads and the event loop never blocks. Every error is
a problem document (dta.http.problems), including 404 and 405.
"""

from __future__ import annotations

import json
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

import dta.http.documents as documents
import dta.http.problems as problems
import dta.http.status_page as status_page
from dta.http.context import HttpContext
from dta.http.problems import Problem
from dta.http.share_route import MAX_BODY, ShareRoute

log = logging.getLogger("dta.http")

NOTE_TYPE = "text/plain; charset=utf-8"
# Query parameters are integers: tree sizes and heights below 2^63.
MAX_INT = (1 << 63) - 1


def base_url(ctx: HttpContext, request: Request) -> str:
    base = ctx.settings.public_url or str(request.base_url)
    return base if base.endswith("/") else base + "/"


def int_param(request: Request, name: str, *, default=None, required: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        if required:
            raise Problem("bad-request", f"query parameter {name} (an integer) is required")
        return default
    if not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_INT:
        raise Problem("bad-request", f"query parameter {name} must be a non-negative integer")
    return int(raw)


def _json(doc) -> JSONResponse:
    return JSONResponse(doc, headers={"Cache-Control": "no-cache"})


def _routes(ctx: HttpContext) -> list[Route]:
    shares = ShareRoute(ctx)
    census = status_page.LogCensus()

    def well_known(request):
        return _json(documents.well_known(ctx, base_url(ctx, request)))

    def checkpoint(request):
        return PlainTextResponse(documents.latest_checkpoint(ctx).note, media_type=NOTE_TYPE,
                                 headers={"Cache-Control": "no-cache"})

    def checkpoints(request):
        limit = int_param(request, "limit", default=documents.MAX_CHECKPOINTS)
        limit = max(1, min(limit, documents.MAX_CHECKPOINTS))
        return _json({"checkpoints": documents.checkpoints(
            ctx, int_param(request, "after"), limit)})

    def one_checkpoint(request):
        cp = documents.checkpoint(ctx, request.path_params["seq"])
        return PlainTextResponse(cp.note, media_type=NOTE_TYPE)

    def inclusion(request):
        return _json(documents.inclusion(ctx, int_param(request, "index", required=True),
                                         int_param(request, "tree_size")))

    def consistency(request):
        return _json(documents.consistency(ctx, int_param(request, "size1", required=True),
                                           int_param(request, "size2")))

    def receipt(request):
        rec = documents.receipt(ctx, request.path_params["index"],
                                int_param(request, "checkpoint_height"))
        return _json(json.loads(rec.to_json()))

    def birth(request):
        rec = documents.birth(ctx, int_param(request, "checkpoint_height"),
                              int_param(request, "k"))
        return _json(json.loads(rec.to_json()))

    def seal_chain(request):
        return _json(documents.seal_chain(ctx, int_param(request, "checkpoint_height")))

    def status(request):
        return HTMLResponse(status_page.render(status_page.model(ctx, census)),
                            headers={"Cache-Control": "no-cache"})

    def problem_type(request):
        page = problems.type_page(request.path_params["slug"])
        if page is None:
            raise Problem("not-found", "no such problem type")
        return HTMLResponse(page)

    async def post_share(request: Request):
        from starlette.concurrency import run_in_threadpool
        body = await _bounded_body(request)
        address = request.client.host if request.client else "unknown"
        doc = await run_in_threadpool(shares.handle, request.headers.get("authorization"),
                                      body, address)
        return JSONResponse(doc, headers={"Cache-Control": "no-store"})

    return [Route("/", lambda r: RedirectResponse("/status", status_code=303)),
            Route("/.well-known/dta", well_known), Route("/checkpoint", checkpoint),
            Route("/checkpoints", checkpoints),
            Route("/checkpoints/{seq:int}", one_checkpoint),
            Route("/proofs/inclusion", inclusion), Route("/proofs/consistency", consistency),
            Route("/receipts/{index:int}", receipt), Route("/birth", birth),
            Route("/seal-chain", seal_chain), Route("/status", status),
            Route("/problems/{slug}", problem_type),
            Route("/shares", post_share, methods=["POST"])]


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise Problem("too-large", f"a share request body is at most {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Problem("too-large", f"a share request body is at most {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(ctx: HttpContext) -> Starlette:
    def on_problem(request: Request, exc: Problem):
        return exc.response(base_url(ctx, request), request.url.path)

    def on_http(request: Request, exc: HTTPException):
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
        detail = {404: f"no such path: {request.url.path[:100]}",
                  405: f"{request.method} is not allowed here"}.get(exc.status_code,
                                                                      "bad request")
        return Problem(slug, detail).response(base_url(ctx, request), request.url.path)

    def on_error(request: Request, exc: Exception):
        log.exception("the API failed to answer %s %s", request.method, request.url.path)
        return Problem("internal", "the D-TA failed to answer; nothing was issued").response(
            base_url(ctx, request), request.url.path)

    return Starlette(routes=_routes(ctx), exception_handlers={
        Problem: on_problem, HTTPException: on_http, Exception: on_error})


__all__ = ["create_app"]
