"""The issuer's signing keys: a JWKS fetched from ``jwks_uri`` and cached, with rotation.

* Keys are kept for ``ttl`` seconds, then fetched again; while the provider cannot be reached the
  old keys stay in use for up to ``max_stale`` more seconds (a provider outage must not lock every
  person and app out at once), and after that tokens are refused as the provider being unreachable.
* A token whose ``kid`` is not in the cache triggers one fetch (the provider may have rotated),
  at most once per ``min_refresh_interval``: a flood of tokens with made-up kids costs the
  provider one request per interval, not one per token. Concurrent callers share one fetch.
* Only signature keys of the types our algorithms use are kept (EC P-256/P-384, RSA, OKP
  Ed25519); symmetric (``oct``) and encryption keys are dropped, so an HMAC key can never be
  chosen. A key is used for an alg only if its type, curve, ``alg``, ``use`` and ``key_ops`` fit.

PyJWT's PyJWK turns each JWK into a key object; signature checks are PyJWT's (dta.oidc.verifier).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import jwt

from dta.oidc.errors import ProviderInvalid, ProviderUnreachable, TokenInvalid
from dta.oidc.http import HttpClient, check_url
from dta.oidc.text import printable

log = logging.getLogger("dta.oidc.jwks")

# Providers rotate keys over days and publish the new key before signing with it; an hour of
# caching keeps the provider's load negligible and picks up removals within the hour.
DEFAULT_TTL = 3600.0
# One unknown-kid refresh per minute bounds what made-up kids can cost the provider, and still
# picks up a rotation the first time a token signed with the new key arrives.
MIN_REFRESH_INTERVAL = 60.0
# Keep verifying with cached keys up to a day past their TTL while the provider is unreachable.
MAX_STALE = 86400.0
# A JWKS in rotation holds 2-3 keys; 32 allows for several algorithms each mid-rotation.
MAX_KEYS = 32
# kids are thumbprints or short names (43 characters for a base64url SHA-256 thumbprint).
MAX_KID = 256

# alg -> (kty, crv): the only key shapes each allowed algorithm can use.
ALG_KEY_SHAPES = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "EdDSA": ("OKP", "Ed25519"),
}
_KEPT_KTY = {"EC", "RSA", "OKP"}


@dataclass
class _KeySet:
    by_kid: dict[str, dict]
    unnamed: tuple[dict, ...]
    fetched_at: float  # when this set was fetched (clock seconds)
    retry_at: float  # when to fetch again: fetched_at + ttl, later after a failed refresh
    prepared: dict = field(default_factory=dict)  # (kid or index, alg) -> PyJWK

    def all_keys(self):
        return list(self.by_kid.values()) + list(self.unnamed)


def key_fits(jwk: dict, alg: str) -> bool:
    kty, crv = ALG_KEY_SHAPES[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        return False
    if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        return False
    ops = jwk.get("key_ops")
    return ops is None or (isinstance(ops, list) and "verify" in ops)


def parse_jwks(doc: dict) -> tuple[dict[str, dict], tuple[dict, ...]]:
    """(keys by kid, keys without kid) from a JWKS document, signature keys only."""
    keys = doc.get("keys")
    if not isinstance(keys, list) or len(keys) > MAX_KEYS:
        raise ProviderInvalid(f"JWKS: 'keys' must be a list of at most {MAX_KEYS} keys")
    by_kid: dict[str, dict] = {}
    unnamed = []
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("kty") not in _KEPT_KTY or jwk.get("use") == "enc":
            continue
        kid = jwk.get("kid")
        if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID):
            raise ProviderInvalid(f"JWKS: a kid must be a string of 1..{MAX_KID} characters")
        if kid in by_kid:
            raise ProviderInvalid(f"JWKS: kid {printable(kid)} appears twice")
        try:
            jwt.PyJWK(jwk, algorithm=_natural_alg(jwk))
        except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError):
            log.warning("JWKS: skipping key %s: not a usable %s key",
                        printable(kid), printable(jwk.get("kty")))
            continue
        if kid is None:
            unnamed.append(jwk)
        else:
            by_kid[kid] = jwk
    return by_kid, tuple(unnamed)


def _natural_alg(jwk: dict) -> str:
    for alg in ALG_KEY_SHAPES:
        if key_fits({**jwk, "alg": alg, "use": "sig", "key_ops": None}, alg):
            return alg
    raise KeyError("no algorithm fits this key")


class JwksCache:
    """Thread-safe cache of one issuer's JWKS. ``fetches`` counts the fetches made."""

    def __init__(self, jwks_uri: str, *, http: HttpClient, allow_http_loopback: bool = False,
                 ttl: float = DEFAULT_TTL, min_refresh_interval: float = MIN_REFRESH_INTERVAL,
                 max_stale: float = MAX_STALE, clock=time.monotonic):
        self.jwks_uri = check_url(jwks_uri, "jwks_uri", allow_http_loopback=allow_http_loopback)
        self.ttl, self.max_stale = ttl, max_stale
        self.min_refresh_interval = min_refresh_interval
        self._http, self._clock = http, clock
        self._state: _KeySet | None = None
        self._last_forced: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def key_for(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The PyJWK that verifies ``alg`` under ``kid``; TokenInvalid (missing-kid, unknown-kid,
        key-mismatch) if there is none, ProviderUnreachable if keys were never fetched."""
        state, just_fetched = self._current()
        found = self._lookup(state, kid, alg)
        if found is None and not just_fetched:
            state = self._refresh_for_unknown(state, kid)
            found = self._lookup(state, kid, alg)
        if found is None:
            raise TokenInvalid("unknown-kid", f"kid {printable(kid)} is not in the issuer's "
                                              "JWKS, even after a refresh")
        slot, jwk = found
        prepared = state.prepared.get((slot, alg))
        if prepared is None:
            prepared = state.prepared[(slot, alg)] = jwt.PyJWK(jwk, algorithm=alg)
        return prepared

    def refresh(self) -> None:
        """Fetch the JWKS now (ProviderUnreachable / ProviderInvalid on failure)."""
        with self._lock:
            self._fetch()

    def _lookup(self, state: _KeySet, kid: str | None, alg: str):
        if kid is not None:
            jwk = state.by_kid.get(kid)
            if jwk is None:
                return None
            if not key_fits(jwk, alg):
                raise TokenInvalid("key-mismatch", f"the issuer's key {printable(kid)} "
                                                   f"cannot verify {alg}")
            return kid, jwk
        fitting = [(i, k) for i, k in enumerate(state.all_keys()) if key_fits(k, alg)]
        if len(fitting) != 1:
            raise TokenInvalid("missing-kid", f"no kid, and the issuer has {len(fitting)} "
                                              f"{alg} keys (exactly one is needed)")
        return ("#%d" % fitting[0][0]), fitting[0][1]

    def _current(self) -> tuple[_KeySet, bool]:
        state = self._state
        now = self._clock()
        if state is not None and now < state.retry_at:
            return state, False
        usable = state is not None and now - state.fetched_at <= self.ttl + self.max_stale
        # While one caller refreshes, the others go on with keys that are still usable rather
        # than queue behind a provider that may take the whole timeout to answer.
        if not self._lock.acquire(blocking=not usable):
            return state, False
        try:
            if self._state is not state:  # another caller fetched meanwhile
                return self._state, True
            if state is None:
                return self._fetch(), True
            try:
                return self._fetch(), True
            except (ProviderUnreachable, ProviderInvalid) as exc:
                if self._clock() - state.fetched_at > self.ttl + self.max_stale:
                    raise ProviderUnreachable(f"JWKS could not be refreshed and the cached keys "
                                              f"are too old to use: {exc}") from None
                log.warning("JWKS refresh failed, keeping the cached keys: %s", exc)
                state.retry_at = self._clock() + self.min_refresh_interval
                return state, False
        finally:
            self._lock.release()

    def _refresh_for_unknown(self, seen: _KeySet, kid: str | None) -> _KeySet:
        with self._lock:
            if self._state is not seen:  # refreshed by another caller while we waited
                return self._state
            now = self._clock()
            last = self._last_forced
            if last is not None and now - last < self.min_refresh_interval:
                return seen
            self._last_forced = now
            try:
                return self._fetch()
            except (ProviderUnreachable, ProviderInvalid) as exc:
                log.warning("JWKS refresh for unknown kid %s failed: %s", printable(kid), exc)
                return seen

    def _fetch(self) -> _KeySet:
        self.fetches += 1
        by_kid, unnamed = parse_jwks(self._http.get_json(self.jwks_uri, "JWKS"))
        now = self._clock()
        self._state = _KeySet(by_kid, unnamed, now, now + self.ttl)
        return self._state
