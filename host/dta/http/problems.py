"""Errors as RFC 9457 problem details: one JSON object (application/problem+json) with type,
title, status and a detail naming what failed, in the D-TA's own words.

Each problem type is a short slug; its ``type`` URI is the D-TA's own page for it,
``<public URL>/problems/<slug>``, which serves the description below (RFC 9457 section 3.1.1:
a type URI, when dereferenced, should document the problem). Clients match on the slug
(the URI's last segment) or on the extension members, never on ``detail``.

Extension members: ``reason`` (the TokenInvalid reason code for ``invalid-token``),
``retry_after`` (seconds, for ``rate-limited``, also sent as Retry-After), ``refusal_log_index``
(the ShareRefused entry that records the refusal, when one was written).

Nothing that came from a request or a library is put in ``detail`` unescaped: callers pass text
through dta.oidc.text.printable first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"
PROBLEM_PATH = "/problems/"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str


_TYPES = (
    ProblemType("missing-token", 401, "A bearer token is required",
                "The request carries no `Authorization: Bearer <token>` header (RFC 6750), or "
                "the header is not of that form. Get an access token for this D-TA (its "
                "`audience`, in /.well-known/dta) from one of its trusted issuers."),
    ProblemType("invalid-token", 401, "The bearer token was refused",
                "The access token did not verify. `reason` names the check that failed "
                "(docs/openid.md lists every reason); the refusal is logged as a ShareRefused "
                "entry with reason `unauthenticated`."),
    ProblemType("rate-limited", 429, "Too many share requests",
                "This subject asked for more shares than the D-TA's per-subject rate allows. "
                "Retry after `retry_after` seconds (the Retry-After header)."),
    ProblemType("policy-refused", 403, "The D-TA's issuance policy refused the share",
                "The D-TA's pre-issuance policy hook refused this subject and epoch; the "
                "refusal is logged as a ShareRefused entry with reason `policy`."),
    ProblemType("bad-request", 400, "The request is malformed",
                "The request body or a query parameter is not what this endpoint takes; "
                "`detail` says which and what is expected."),
    ProblemType("too-large", 413, "The request body is too large",
                "The request body is larger than this endpoint accepts."),
    ProblemType("not-found", 404, "Not found",
                "No such resource: an entry, checkpoint or receipt that does not exist (yet), "
                "or an unknown path."),
    ProblemType("method-not-allowed", 405, "Method not allowed",
                "This path does not take that HTTP method."),
    ProblemType("not-ready", 503, "The D-TA cannot answer this yet",
                "What was asked needs something the D-TA does not have yet: its Birth Record "
                "in a block, a Bitcoin node to read evidence from, a checkpoint covering the "
                "entry. `detail` says which; ask again later."),
    ProblemType("internal", 500, "Internal error",
                "The D-TA failed to answer. Nothing was issued; the D-TA's own log says why."),
)
TYPES = {t.slug: t for t in _TYPES}


class Problem(Exception):
    """Raised by a route; the app turns it into the response. ``extra`` are extension members,
    ``headers`` extra response headers (WWW-Authenticate, Retry-After)."""

    def __init__(self, slug: str, detail: str, *, extra: dict | None = None,
                 headers: dict | None = None):
        if slug not in TYPES:
            raise ValueError(f"unknown problem type {slug!r}")
        super().__init__(f"{slug}: {detail}")
        self.slug, self.detail = slug, detail
        self.extra, self.headers = dict(extra or {}), dict(headers or {})

    @property
    def status(self) -> int:
        return TYPES[self.slug].status

    def body(self, base_url: str, instance: str | None = None) -> dict:
        kind = TYPES[self.slug]
        out = {"type": f"{base_url.rstrip('/')}{PROBLEM_PATH}{kind.slug}", "title": kind.title,
               "status": kind.status, "detail": self.detail}
        if instance is not None:
            out["instance"] = instance
        out.update(self.extra)
        return out

    def response(self, base_url: str, instance: str | None = None) -> Response:
        text = json.dumps(self.body(base_url, instance), sort_keys=True)
        headers = {"Cache-Control": "no-store", **self.headers}
        return Response(text, status_code=self.status, media_type=MEDIA_TYPE, headers=headers)


def type_page(slug: str) -> str | None:
    """The HTML page a problem type URI serves, or None for an unknown slug."""
    from html import escape
    kind = TYPES.get(slug)
    if kind is None:
        return None
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(kind.title)}"
            f"</title></head><body><h1>{escape(kind.title)}</h1><p>HTTP {kind.status}, problem "
            f"type <code>{escape(kind.slug)}</code>.</p><p>{escape(kind.description)}</p>"
            "</body></html>")


__all__ = ["MEDIA_TYPE", "PROBLEM_PATH", "Problem", "ProblemType", "TYPES", "type_page"]
