"""The OpenID Connect package's errors, under dta.errors.DtaError.

``TokenInvalid.reason`` is a short stable code (the table below, also in docs/openid.md) that the
HTTP layer maps to 401 and the transparency log to a refusal; ``detail`` says in our own words
what failed and never carries a library's message or unescaped token text.
"""

from __future__ import annotations

from dta.errors import DtaError

# Reason code -> what it means. One code per way a token can fail.
TOKEN_REASONS = {
    "malformed": "not a compact JWS (three base64url parts of JSON), or too large",
    "bad-header": "a header parameter we do not accept (crit, b64, a non-string kid)",
    "alg-none": "alg is 'none': unsigned tokens are never accepted",
    "alg-hmac": "alg is an HMAC (HS256, ...): only public-key signatures are accepted",
    "alg-not-allowed": "alg is not in the verifier's allow-list",
    "wrong-typ": "typ is not the one this kind of token must carry (at+jwt for access tokens)",
    "missing-kid": "no kid, and the JWKS does not have exactly one key for the alg",
    "unknown-kid": "kid not in the issuer's JWKS, even after a refresh",
    "key-mismatch": "the JWKS key named by kid cannot verify this alg (type, curve, alg, use)",
    "weak-key": "the issuer's key is below the minimum size (RSA < 2048 bits)",
    "bad-signature": "the signature does not verify with the issuer's key",
    "expired": "exp is in the past, beyond the leeway",
    "not-yet-valid": "nbf or iat is in the future, beyond the leeway",
    "wrong-audience": "aud does not contain this verifier's audience",
    "wrong-issuer": "iss is not this verifier's issuer",
    "unknown-issuer": "iss is none of the trusted issuers",
    "missing-claim": "a required claim is absent",
    "bad-claim": "a claim has the wrong type or form",
    "wrong-azp": "azp (authorized party) is not the expected client",
    "nonce-mismatch": "the ID token's nonce is not the one sent with the login",
    "bad-subject": "sub or client_id is empty, too long or has characters outside printable ASCII",
    "apps-not-accepted": "a client-credentials token from an issuer not trusted for apps",
}


class OidcError(DtaError):
    """Base of the OpenID Connect errors."""


class ProviderUnreachable(OidcError):
    """The OpenID provider could not be reached (connection, timeout, HTTP 5xx)."""


class ProviderInvalid(OidcError):
    """The provider answered, but its answer breaks a rule (discovery, JWKS, token response)."""


class TokenInvalid(OidcError):
    """A token was refused. ``reason`` is a code from TOKEN_REASONS, ``detail`` our words."""

    def __init__(self, reason: str, detail: str):
        if reason not in TOKEN_REASONS:
            raise ValueError(f"unknown token refusal reason {reason!r}")
        super().__init__(f"token refused ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class LoginFailed(OidcError):
    """A person's login did not complete. ``reason``: access-denied, expired, state-mismatch,
    issuer-mismatch, timeout, provider-error."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"login failed ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class TokenStoreError(OidcError):
    """The encrypted token store cannot be read or written (wrong passphrase, damaged)."""
