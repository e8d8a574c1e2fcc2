"""What the HTTP API serves from: one D-TA's public facts and revealed Birth Record, its log,
its seal-chain store, its node (optional), its device registry (optional), the issuers it trusts
and the share issuer. Built once by whoever runs the API (`dta authority run --http`, `dta
authority serve-http`, the tests) and shared by every route.

Reads never create anything: a registry that does not exist yet is shown as empty.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dta.anchor.rpc import Node
from dta.anchor.store import AnchorStore
from dta.authority.identity import PublicFacts
from dta.errors import USER_ERRORS
from dta.http.ratelimit import Rate
from dta.log.store import LogStore

# The node's height is read at most this often for the pages and documents that show
# confirmations: a block comes every ten minutes, a page may be loaded many times a second.
HEIGHT_TTL = 2.0
DEFAULT_SHARE_RATE = Rate(per_minute=10, burst=10)
# Unauthenticated refusals cost a log entry each, and anyone can send a bad token: at most this
# many a minute per client address, and overall, are logged (the rest are answered and counted).
DEFAULT_REFUSAL_LOG_RATE = Rate(per_minute=30, burst=30)
DEFAULT_REFUSAL_LOG_TOTAL = Rate(per_minute=600, burst=600)


@dataclass
class NodeHeight:
    """The node's tip height, cached for HEIGHT_TTL seconds; None without a node or when it
    does not answer."""

    node: Node | None
    ttl: float = HEIGHT_TTL
    _at: float = 0.0
    _height: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> int | None:
        if self.node is None:
            return None
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.ttl:
                try:
                    self._height = self.node.height()
                except USER_ERRORS:
                    self._height = None
                self._at = now
            return self._height


@dataclass
class HttpSettings:
    """``public_url``: where clients reach this API (behind a reverse proxy: the proxy's URL);
    None uses each request's own base URL. ``audience``: the resource identifier access tokens
    for this D-TA carry in ``aud`` (RFC 8707 / RFC 9068)."""

    audience: str
    public_url: str | None = None
    share_rate: Rate = DEFAULT_SHARE_RATE
    refusal_log_rate: Rate = DEFAULT_REFUSAL_LOG_RATE
    refusal_log_total: Rate = DEFAULT_REFUSAL_LOG_TOTAL
    # Confirmations the D-TA's own anchors need to be final (k), shown on its pages.
    k: int = 1


class RefusalCounters:
    """Share requests refused since the API started, by reason (a problem slug or a token
    reason), and how many of them were logged as ShareRefused entries."""

    def __init__(self):
        self._lock = threading.Lock()
        self.by_reason: dict[str, int] = {}
        self.logged = 0
        self.unlogged = 0

    def count(self, reason: str, logged: bool) -> None:
        with self._lock:
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
            if logged:
                self.logged += 1
            else:
                self.unlogged += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"by_reason": dict(sorted(self.by_reason.items())), "logged": self.logged,
                    "unlogged": self.unlogged}


@dataclass
class HttpContext:
    facts: PublicFacts
    birth_record: bytes
    log_store: LogStore
    anchors: AnchorStore
    settings: HttpSettings
    node: Node | None = None
    registry_path: Path | None = None
    issuers: object | None = None  # dta.oidc.TrustedIssuers
    issuer: object | None = None  # the share issuer (dta.http.shares.ShareIssuer)
    started: float = field(default_factory=time.time)
    height: NodeHeight = field(init=False)
    refusals: RefusalCounters = field(default_factory=RefusalCounters)
    anchor_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.height = NodeHeight(self.node)

    def anchor_rows(self):
        """The seal chain's rows (the anchor store's connection is shared: one at a time)."""
        with self.anchor_lock:
            return self.anchors.all()


__all__ = ["DEFAULT_REFUSAL_LOG_RATE", "DEFAULT_REFUSAL_LOG_TOTAL", "DEFAULT_SHARE_RATE",
           "HEIGHT_TTL", "HttpContext", "HttpSettings", "NodeHeight", "RefusalCounters"]
