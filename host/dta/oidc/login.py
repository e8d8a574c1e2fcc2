"""What a person's login ends with, shared by the device flow and the code flow.

A login asks for the ``openid`` scope, so the provider returns an ID token; it is verified
(issuer, audience = our client id, nonce when the flow sent one) and gives the person's Subject.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from dta.oidc.discovery import ProviderMetadata
from dta.oidc.errors import LoginFailed, OidcError, ProviderInvalid
from dta.oidc.http import HttpClient
from dta.oidc.subject import Subject
from dta.oidc.tokens import OAuthError, TokenSet
from dta.oidc.verifier import TokenVerifier, VerifiedToken

DEFAULT_SCOPE = "openid offline_access"


@dataclass(frozen=True)
class LoginResult:
    tokens: TokenSet
    id_token: VerifiedToken

    @property
    def subject(self) -> Subject:
        return self.id_token.subject


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random string (state, nonce, PKCE verifier: 256 bits)."""
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode("ascii")


def login_verifier(metadata: ProviderMetadata, verifier: TokenVerifier | None,
                   http: HttpClient | None) -> TokenVerifier:
    if verifier is not None:
        if verifier.issuer != metadata.issuer:
            raise OidcError("the login's verifier is for another issuer")
        return verifier
    return TokenVerifier(metadata, http=http)


def finish_login(tokens: TokenSet, verifier: TokenVerifier, *, client_id: str,
                 nonce: str | None) -> LoginResult:
    if tokens.id_token is None:
        raise ProviderInvalid("the login gave no ID token (was the openid scope granted?)")
    return LoginResult(tokens, verifier.verify_id_token(tokens.id_token, client_id=client_id,
                                                         nonce=nonce))


def login_refused(exc: OAuthError) -> LoginFailed:
    if exc.error == "access_denied":
        return LoginFailed("access-denied", f"the person refused the login ({exc.description})")
    if exc.error == "expired_token":
        return LoginFailed("expired", "the login code expired before it was approved")
    return LoginFailed("provider-error", f"{exc.error}: {exc.description}")
