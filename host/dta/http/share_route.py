"""POST /shares: a share for the subject a bearer token names, or a problem saying why not.

Order of checks (each refusal is a ShareRefused entry in the log, within the budgets, and an
RFC 9457 problem; nothing is derived before the token verified):

1. ``Authorization: Bearer <token>`` present (RFC 6750), else ``missing-token`` (401);
2. the token verifies at one of the trusted issuers, with this D-TA as its audience
   (dta.oidc.TrustedIssuers), else ``invalid-token`` (401) with the TokenInvalid reason;
3. the body is ``{"epoch": N}`` (N a u32), else ``bad-request`` (400; not a refusal: there is
   no epoch to refuse, nothing is logged);
4. the subject's request rate (token bucket), else ``rate-limited`` (429, Retry-After);
5. the issuance core (dta.http.issuing): its rate window (429) and policy hook (403), then the
   share, logged write-ahead, with its signed public share and receipt.

For an unauthenticated refusal the subject logged is the one the token *claims* (its ``iss`` and
``sub``, or its ``client_id``), unverified, escaped to printable ASCII: what someone tried to
get a share as. Anyone can send a bad token, so those refusals are logged at most at the
per-address and overall rates of HttpSettings.refusal_log_rate / refusal_log_total; past them
they are answered and counted, not logged.
"""

from __future__ import annotations

import json
import logging
import math

from dta.http.context import HttpContext
from dta.http.issuing import IssuedShare, Refusal, Refused
from dta.http.problems import Problem
from dta.http.ratelimit import Buckets
from dta.oidc import ProviderInvalid, ProviderUnreachable, TokenInvalid
from dta.oidc.text import printable
from dta.oidc.verifier import MAX_TOKEN_CHARS, peek
from dtacore import entries, shares

log = logging.getLogger("dta.http")

SHARE_FORMAT = "dta-share/1"
# {"epoch": 4294967295} is 21 bytes; a body ten times the honest one is refused unread.
MAX_BODY = 256
MAX_EPOCH = shares.MAX_EPOCH
# The subject logged for a refusal whose token names none we can read.
NO_SUBJECT = b"(no readable subject)"
REALM = 'Bearer realm="dta"'


class ShareRoute:
    """One per app: the per-subject buckets and the unauthenticated-refusal budget."""

    def __init__(self, ctx: HttpContext):
        self.ctx = ctx
        s = ctx.settings
        self.rate = Buckets(s.share_rate)
        self.refusal_per_address = Buckets(s.refusal_log_rate)
        self.refusal_total = Buckets(s.refusal_log_total)

    def handle(self, authorization: str | None, body: bytes, address: str) -> dict:
        """The share response document, or raises Problem."""
        epoch, body_error = parse_body(body)
        token = bearer(authorization)
        if token is None:
            at = self._unauthenticated(None, epoch, address, "missing-token",
                                       "no Authorization: Bearer header")
            raise Problem("missing-token", "send the access token as `Authorization: Bearer "
                          "<token>` (RFC 6750)", headers={"WWW-Authenticate": REALM},
                          extra={} if at is None else {"refusal_log_index": at})
        verified = self._verify(token, epoch, address)
        subject = verified.subject.encode()
        if body_error is not None:
            raise Problem("bad-request", body_error)
        wait = self.rate.take(subject)
        if wait > 0:
            refusal = self.ctx.issuer.refuse(subject, epoch, entries.REFUSED_RATE_LIMITED,
                                             "over the per-subject request rate")
            raise self._refused("rate-limited", refusal, verified.subject, wait)
        try:
            issued = self.ctx.issuer.issue(subject, epoch, verified.subject.kind)
        except Refused as exc:
            slug = ("policy-refused" if exc.refusal.reason == entries.REFUSED_POLICY
                    else "rate-limited")
            raise self._refused(slug, exc.refusal, verified.subject, None) from None
        log.info("issued the share of %s for epoch %d (log entry %d%s)", verified.subject,
                 epoch, issued.log_index, ", new" if issued.new_entry else ", again")
        return share_document(self.ctx, issued, verified.subject)

    def _verify(self, token: str, epoch: int, address: str):
        if self.ctx.issuers is None:
            raise Problem("not-ready", "this D-TA trusts no OpenID issuer yet (give it --issuer)")
        try:
            return self.ctx.issuers.verify_access_token(token)
        except TokenInvalid as exc:
            at = self._unauthenticated(token, epoch, address, exc.reason, exc.detail)
            extra = {"reason": exc.reason}
            if at is not None:
                extra["refusal_log_index"] = at
            raise Problem("invalid-token", f"the access token was refused ({exc.reason}): "
                          f"{exc.detail}", extra=extra,
                          headers={"WWW-Authenticate": f'{REALM}, error="invalid_token", '
                                   f'error_description="token refused: {exc.reason}"'}) from None
        except (ProviderUnreachable, ProviderInvalid):
            raise Problem("not-ready", "the token's issuer cannot be reached to fetch its "
                          "keys; ask again later") from None

    def _unauthenticated(self, token, epoch: int, address: str, reason: str,
                         detail: str) -> int | None:
        """Log (within the budget) and count one unauthenticated refusal; its entry index."""
        subject = claimed_subject(token)
        at = None
        if self.refusal_per_address.take(address) == 0 and self.refusal_total.take(None) == 0:
            at = self.ctx.issuer.refuse(subject, epoch, entries.REFUSED_UNAUTHENTICATED,
                                        reason).log_index
        self.ctx.refusals.count(reason, at is not None)
        log.warning("refused a share request from %s claiming %s: %s: %s%s",
                    printable(address, 64), printable(subject.decode("ascii")), reason, detail,
                    "" if at is not None else " [not logged: over the refusal budget]",
                    extra={"fields": {"kind": "share-refused", "reason": reason}})
        return at

    def _refused(self, slug: str, refusal: Refusal, subject, wait: float | None) -> Problem:
        self.ctx.refusals.count(slug, refusal.log_index is not None)
        log.warning("refused a share to %s: %s (%s)", subject, slug, refusal.detail)
        extra, headers = {}, {}
        if refusal.log_index is not None:
            extra["refusal_log_index"] = refusal.log_index
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            extra["retry_after"] = seconds
            headers["Retry-After"] = str(seconds)
        return Problem(slug, printable(refusal.detail, 200), extra=extra, headers=headers)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 section 2.1: the
    scheme is case-insensitive, one space, a token68), else None."""
    if header is None or len(header) > MAX_TOKEN_CHARS + 16:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token.strip():
        return None
    return token.strip()


def parse_body(body: bytes) -> tuple[int, str | None]:
    """(epoch, None), or (0, what is wrong): the epoch is needed for a refusal too."""
    if len(body) > MAX_BODY:
        return 0, f"the body is over {MAX_BODY} bytes; send {{\"epoch\": N}}"
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return 0, "the body is not JSON; send {\"epoch\": N}"
    if not isinstance(doc, dict) or set(doc) != {"epoch"}:
        return 0, "the body must be exactly {\"epoch\": N}"
    epoch = doc["epoch"]
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH:
        return 0, f"epoch must be an integer in 0..{MAX_EPOCH}"
    return epoch, None


def claimed_subject(token: str | None) -> bytes:
    """What an unverified token says it is, as printable ASCII within the log's limit."""
    if token is None:
        return NO_SUBJECT
    _, payload = peek(token)
    iss, sub, client = payload.get("iss"), payload.get("sub"), payload.get("client_id")
    if isinstance(sub, str) and sub and sub == client:
        text = printable(client, 255)
    elif isinstance(iss, str) and isinstance(sub, str) and iss and sub:
        text = f"{printable(iss, 200)} {printable(sub, 255)}"
    else:
        return NO_SUBJECT
    return text.encode("ascii")[:entries.MAX_SUBJECT]


def share_document(ctx: HttpContext, issued: IssuedShare, subject) -> dict:
    ps = issued.statement
    return {"format": SHARE_FORMAT, "dta_id": ctx.facts.dta_id.hex(), "subject": subject.name,
            "kind": subject.kind, "epoch": issued.epoch, "share": issued.share.hex(),
            "public_share": ps.public_share.hex(),
            "statement": shares.encode_statement(ps).hex(), "log_index": issued.log_index,
            "new_entry": issued.new_entry, "receipt": json.loads(issued.receipt.to_json())}


__all__ = ["MAX_BODY", "NO_SUBJECT", "SHARE_FORMAT", "ShareRoute", "bearer", "claimed_subject",
           "parse_body", "share_document"]
