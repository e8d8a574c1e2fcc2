"""Token endpoint answers (RFC 6749 section 5) and the token set a login keeps.

A successful answer is checked strictly (types, lengths, Bearer only) before anything is kept;
an error answer becomes an OAuthError carrying the RFC's error code and the provider's
description, escaped and cut (it is the provider's text, shown to a person).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from dta.oidc.errors import OidcError, ProviderInvalid
from dta.oidc.text import printable

# Tokens from the providers we know are < 4 KB; refresh tokens are opaque and shorter.
MAX_TOKEN_CHARS = 8192
# Access tokens live minutes to hours; a day bounds what a wrong expires_in can make us keep.
MAX_EXPIRES_IN = 86400
# OAuth error codes are short ASCII words (RFC 6749 section 5.2).
MAX_ERROR_CODE = 64


class OAuthError(OidcError):
    """The provider answered with an OAuth error (``error`` is its code, e.g. invalid_grant)."""

    def __init__(self, error: str, description: str, what: str):
        super().__init__(f"{what}: the provider refused ({error}): {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class TokenSet:
    """What a login or a client-credentials request gives: kept (encrypted) by TokenStore."""

    issuer: str
    client_id: str
    access_token: str
    token_type: str
    expires_at: float | None  # Unix time, from expires_in
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None

    def expired(self, margin: float = 30.0, now: float | None = None) -> bool:
        """True once less than ``margin`` seconds of the access token's life are left."""
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) >= self.expires_at - margin

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> "TokenSet":
        return cls(**{name: doc.get(name) for name in cls.__dataclass_fields__})

    def __repr__(self) -> str:  # never show the tokens themselves
        return (f"TokenSet(issuer={self.issuer!r}, client_id={self.client_id!r}, "
                f"expires_at={self.expires_at!r}, scope={self.scope!r})")


def _optional_token(body: dict, name: str, what: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TOKEN_CHARS or not value.isascii():
        raise ProviderInvalid(f"{what}: {name} must be 1..{MAX_TOKEN_CHARS} ASCII characters")
    return value


def oauth_error(status: int, body: dict, what: str) -> OAuthError:
    error = body.get("error")
    if not isinstance(error, str) or not 0 < len(error) <= MAX_ERROR_CODE:
        raise ProviderInvalid(f"{what}: HTTP {status} without an OAuth error code")
    return OAuthError(printable(error, MAX_ERROR_CODE),
                      printable(body.get("error_description")), what)


def parse_token_response(status: int, body: dict, *, issuer: str, client_id: str,
                         what: str, now: float | None = None) -> TokenSet:
    """A TokenSet from a token endpoint answer; OAuthError for an error answer."""
    if status != 200:
        raise oauth_error(status, body, what)
    access_token = _optional_token(body, "access_token", what)
    token_type = body.get("token_type")
    if access_token is None:
        raise ProviderInvalid(f"{what}: no access_token in the answer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ProviderInvalid(f"{what}: token_type must be Bearer, not {printable(token_type)}")
    expires_in = body.get("expires_in")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int)
                                   or not 0 < expires_in <= MAX_EXPIRES_IN):
        raise ProviderInvalid(f"{what}: expires_in must be 1..{MAX_EXPIRES_IN} seconds")
    scope = body.get("scope")
    if scope is not None and (not isinstance(scope, str) or len(scope) > MAX_TOKEN_CHARS):
        raise ProviderInvalid(f"{what}: scope must be a string")
    now = time.time() if now is None else now
    return TokenSet(issuer=issuer, client_id=client_id, access_token=access_token,
                    token_type="Bearer",
                    expires_at=None if expires_in is None else now + expires_in,
                    refresh_token=_optional_token(body, "refresh_token", what),
                    id_token=_optional_token(body, "id_token", what), scope=scope)
