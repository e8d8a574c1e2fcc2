"""Verifying one issuer's JWTs: RFC 9068 access tokens (people and apps) and ID tokens (logins).

The order of checks, each failure a TokenInvalid with its own reason (dta.oidc.errors):

1. shape: an ASCII compact JWS of at most MAX_TOKEN_CHARS, three parts (a JWE has five);
2. header: no ``crit``/``b64``; ``alg`` in the allow-list (never ``none``, never HMAC: an HS256
   token "signed" with the issuer's public key is refused before any key is touched); ``typ``
   ``at+jwt`` for access tokens (RFC 9068 section 4), absent or ``JWT`` for ID tokens, so one
   kind can never be passed off as the other;
3. key: the JWKS key named by ``kid`` (one refresh on an unknown kid, rate-limited), and only
   if its type and curve fit the alg (dta.oidc.jwks);
4. PyJWT checks the signature, then ``iss`` (exact), ``aud``, ``exp``, ``nbf``, ``iat`` with
   ``leeway`` seconds, and the presence of the required claims;
5. our checks: claim types, ``azp`` and ``nonce`` for ID tokens, and the Subject.

Every refusal is logged (logger ``dta.oidc``) with its reason and the token's kid, alg, iss and
sub escaped and cut by dta.oidc.text.printable; the token itself is never logged.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import jwt

from dta.oidc.discovery import ProviderMetadata, discover
from dta.oidc.errors import OidcError, TokenInvalid
from dta.oidc.http import HttpClient
from dta.oidc.jwks import ALG_KEY_SHAPES, JwksCache
from dta.oidc.subject import Subject
from dta.oidc.text import printable

log = logging.getLogger("dta.oidc")

SUPPORTED_ALGORITHMS = frozenset(ALG_KEY_SHAPES)
DEFAULT_ALGORITHMS = ("ES256", "RS256", "EdDSA")
# Hosts kept by NTP agree within a second; 30 s forgives a drifting laptop or board clock
# without letting an expired token live noticeably longer.
DEFAULT_LEEWAY = 30
# More than two minutes of leeway would be a misconfiguration, not a clock difference.
MAX_LEEWAY = 120
# A JWT with the usual claims is 0.5-2 KB; 8 KiB is the header size most HTTP servers accept.
MAX_TOKEN_CHARS = 8192
# RFC 9068 section 4 (media types compare case-insensitively; "application/" may be left out).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
ID_TOKEN_TYPES = frozenset({"jwt", "application/jwt"})
ACCESS = "access"
ID = "id"
# RFC 9068 section 2.2 (access tokens) and OIDC Core section 2 (ID tokens).
ACCESS_REQUIRED = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")
ID_REQUIRED = ("iss", "sub", "aud", "exp", "iat")

# PyJWT's exception -> (reason, our words). Subclasses before their bases.
_PYJWT_REASONS = (
    (jwt.InvalidSignatureError, "bad-signature", "the signature does not verify with the "
                                                 "issuer's key"),
    (jwt.ExpiredSignatureError, "expired", "the token has expired (exp is past, beyond the "
                                           "leeway)"),
    (jwt.ImmatureSignatureError, "not-yet-valid", "the token is not valid yet (nbf or iat is "
                                                  "in the future, beyond the leeway)"),
    (jwt.InvalidAudienceError, "wrong-audience", "aud does not name this audience"),
    (jwt.InvalidIssuerError, "wrong-issuer", "iss is not this verifier's issuer"),
    (jwt.InvalidIssuedAtError, "bad-claim", "iat is not a number"),
    (jwt.exceptions.InvalidSubjectError, "bad-claim", "sub is not a string"),
    (jwt.exceptions.InvalidJTIError, "bad-claim", "jti is not a string"),
    (jwt.InvalidAlgorithmError, "alg-not-allowed", "alg does not fit the issuer's key"),
    (jwt.DecodeError, "malformed", "not a well-formed JWT (or exp/nbf is not a number)"),
    (jwt.InvalidTokenError, "malformed", "not a well-formed JWT"),
)


@dataclass(frozen=True)
class VerifiedToken:
    """A token that passed every check. ``claims`` is read-only."""

    kind: str  # ACCESS or ID
    subject: Subject
    claims: Mapping[str, Any]
    alg: str
    kid: str | None
    expires_at: float


def peek(token: object) -> tuple[dict, dict]:
    """The unverified header and payload, for routing and log hints only ({} where unreadable).
    Never trust what this returns."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return {}, {}
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return {}, {}
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        payload = {}
    return header, payload


def log_refusal(kind: str, token: object, exc: TokenInvalid) -> None:
    header, payload = peek(token)
    log.warning("%s token refused: %s: %s [kid=%s alg=%s iss=%s sub=%s]", kind, exc.reason,
                exc.detail, printable(header.get("kid")), printable(header.get("alg")),
                printable(payload.get("iss")), printable(payload.get("sub")),
                extra={"oidc_reason": exc.reason, "oidc_kind": kind})


def _check_alg(alg: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(alg, str):
        raise TokenInvalid("malformed", "the header has no alg string")
    if alg.lower() == "none":
        raise TokenInvalid("alg-none", "alg 'none' (an unsigned token) is never accepted")
    if alg.upper().startswith("HS"):
        raise TokenInvalid("alg-hmac", f"alg {printable(alg)} is an HMAC: only public-key "
                                       "signatures from the issuer are accepted")
    if alg not in allowed:
        raise TokenInvalid("alg-not-allowed", f"alg {printable(alg)} is not one of "
                                              f"{', '.join(allowed)}")
    return alg


def _check_typ(typ: object, allowed: frozenset[str], *, required: bool, kind: str) -> None:
    if typ is None and not required:
        return
    if not isinstance(typ, str) or typ.lower() not in allowed:
        raise TokenInvalid("wrong-typ", f"typ {printable(typ)} is not that of an {kind} token "
                                        f"({' or '.join(sorted(allowed))})")


def _check_header(token: object) -> dict:
    if not isinstance(token, str) or not token.isascii() or not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise TokenInvalid("malformed", f"a token must be 1..{MAX_TOKEN_CHARS} ASCII characters")
    if token.count(".") != 2:
        raise TokenInvalid("malformed", "not a compact JWS (three dot-separated parts); "
                                        "encrypted tokens (JWE) are not accepted")
    try:
        # PyJWT's strict decoder on the header segment alone (empty payload and signature):
        # the whole token is decoded once, later, by jwt.decode.
        header = jwt.get_unverified_header(token[:token.index(".")] + "..")
    except jwt.DecodeError:
        raise TokenInvalid("malformed", "the header is not base64url-encoded JSON") from None
    except jwt.InvalidTokenError:
        raise TokenInvalid("bad-header", "kid or crit in the header has the wrong form") from None
    if "crit" in header or "b64" in header:
        raise TokenInvalid("bad-header", "header parameters crit and b64 are not accepted")
    return header


def _check_claim_types(claims: dict) -> None:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TokenInvalid("bad-claim", f"{name} must be a number (NumericDate)")
    aud = claims.get("aud")
    if not (isinstance(aud, str) or (isinstance(aud, list)
                                     and all(isinstance(a, str) for a in aud))):
        raise TokenInvalid("bad-claim", "aud must be a string or a list of strings")


class TokenVerifier:
    """Verifies tokens from one issuer. ``audience`` is this D-TA's resource identifier (the
    ``aud`` its access tokens carry); ``verify_id_token`` takes the login client's id instead."""

    def __init__(self, metadata: ProviderMetadata, *, audience: str | None = None,
                 http: HttpClient | None = None, jwks: JwksCache | None = None,
                 algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
                 leeway: int = DEFAULT_LEEWAY, accept_apps: bool = True):
        if not algorithms or not set(algorithms) <= SUPPORTED_ALGORITHMS:
            raise OidcError(f"algorithms must be a non-empty subset of "
                            f"{', '.join(sorted(SUPPORTED_ALGORITHMS))}")
        if not 0 <= leeway <= MAX_LEEWAY:
            raise OidcError(f"leeway must be 0..{MAX_LEEWAY} seconds")
        self.metadata, self.issuer = metadata, metadata.issuer
        self.audience, self.accept_apps = audience, accept_apps
        self.algorithms, self.leeway = tuple(algorithms), leeway
        self.jwks = jwks or JwksCache(metadata.jwks_uri, http=http or HttpClient(),
                                      allow_http_loopback=metadata.allows_http_loopback)
        self._pyjwt = jwt.PyJWT()

    @classmethod
    def discover(cls, issuer: str, *, http: HttpClient | None = None,
                 **kwargs) -> "TokenVerifier":
        """A verifier for ``issuer`` from its discovery document."""
        http = http or HttpClient()
        return cls(discover(issuer, http=http), http=http, **kwargs)

    def verify_access_token(self, token: str) -> VerifiedToken:
        """An RFC 9068 access token for this verifier's audience: a person (sub != client_id)
        or an app (client credentials: sub == client_id)."""
        if self.audience is None:
            raise OidcError("this verifier has no audience: it cannot check access tokens")
        try:
            return self._verify_access(token)
        except TokenInvalid as exc:
            log_refusal(ACCESS, token, exc)
            raise

    def verify_id_token(self, token: str, *, client_id: str,
                        nonce: str | None = None) -> VerifiedToken:
        """An ID token issued to ``client_id``; ``nonce`` (when the login sent one) must match."""
        try:
            return self._verify_id(token, client_id, nonce)
        except TokenInvalid as exc:
            log_refusal(ID, token, exc)
            raise

    def _verify_access(self, token: str) -> VerifiedToken:
        header, key = self._header_and_key(token, ACCESS_TOKEN_TYPES, ACCESS)
        claims = self._decode(token, key, header["alg"], self.audience, ACCESS_REQUIRED)
        client_id = claims["client_id"]
        if not isinstance(client_id, str):
            raise TokenInvalid("bad-claim", "client_id must be a string")
        if claims["sub"] == client_id:
            if not self.accept_apps:
                raise TokenInvalid("apps-not-accepted", f"issuer {printable(self.issuer)} is "
                                                        "not trusted to authenticate apps")
            subject = Subject.app(self.issuer, client_id)
        else:
            subject = Subject.person(self.issuer, claims["sub"])
        return self._result(ACCESS, subject, claims, header)

    def _verify_id(self, token: str, client_id: str, nonce: str | None) -> VerifiedToken:
        header, key = self._header_and_key(token, ID_TOKEN_TYPES, ID)
        claims = self._decode(token, key, header["alg"], client_id, ID_REQUIRED)
        aud, azp = claims["aud"], claims.get("azp")
        if (isinstance(aud, list) and len(aud) > 1 and azp is None) or (
                azp is not None and azp != client_id):
            raise TokenInvalid("wrong-azp", f"azp {printable(azp)} is not {printable(client_id)}"
                                            " (required when aud lists several clients)")
        if nonce is not None:
            got = claims.get("nonce")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
                raise TokenInvalid("nonce-mismatch", "the nonce is not the one this login sent")
        return self._result(ID, Subject.person(self.issuer, claims["sub"]), claims, header)

    def _header_and_key(self, token: str, types: frozenset[str], kind: str):
        header = _check_header(token)
        alg = _check_alg(header.get("alg"), self.algorithms)
        _check_typ(header.get("typ"), types, required=(kind == ACCESS), kind=kind)
        return header, self.jwks.key_for(header.get("kid"), alg)

    def _decode(self, token: str, key: jwt.PyJWK, alg: str, audience: str,
                required: tuple[str, ...]) -> dict:
        try:
            claims = self._pyjwt.decode(
                token, key=key, algorithms=[alg], audience=audience, issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(required), "enforce_minimum_key_length": True})
        except jwt.MissingRequiredClaimError as exc:
            raise TokenInvalid("missing-claim", f"claim {printable(exc.claim)} is "
                                                "required") from None
        except jwt.InvalidKeyError:
            raise TokenInvalid("weak-key", "the issuer's key is below the minimum size") from None
        except jwt.InvalidTokenError as exc:
            for kind, reason, detail in _PYJWT_REASONS:
                if isinstance(exc, kind):
                    raise TokenInvalid(reason, detail) from None
            raise  # unreachable: InvalidTokenError is the last entry
        _check_claim_types(claims)
        return claims

    def _result(self, kind: str, subject: Subject, claims: dict, header: dict) -> VerifiedToken:
        return VerifiedToken(kind=kind, subject=subject, claims=MappingProxyType(claims),
                             alg=header["alg"], kid=header.get("kid"),
                             expires_at=float(claims["exp"]))
