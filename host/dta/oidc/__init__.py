"""OpenID Connect, relying-party side: how a D-TA authenticates people and apps (docs/openid.md).

* ``discover(issuer)`` -> ProviderMetadata; ``TokenVerifier(metadata, audience=...)`` verifies
  access tokens (``verify_access_token``) and ID tokens (``verify_id_token``) against the
  issuer's cached JWKS; ``TrustedIssuers`` routes among several issuers.
* A verified token's ``subject``: a person (issuer + " " + sub) or an app (client id).
* People log in with ``DeviceLogin`` (RFC 8628) or ``CodeLogin`` (code + PKCE, loopback);
  apps get tokens with ``client_credentials``; ``TokenStore`` keeps tokens sealed at rest.
"""

from dta.oidc.code_flow import CodeLogin, LoopbackRedirect
from dta.oidc.device_flow import DeviceAuthorization, DeviceLogin
from dta.oidc.discovery import ProviderMetadata, discover
from dta.oidc.errors import (
    TOKEN_REASONS,
    LoginFailed,
    OidcError,
    ProviderInvalid,
    ProviderUnreachable,
    TokenInvalid,
    TokenStoreError,
)
from dta.oidc.http import HttpClient
from dta.oidc.issuers import TrustedIssuers
from dta.oidc.jwks import JwksCache
from dta.oidc.login import LoginResult
from dta.oidc.subject import APP, PERSON, Subject
from dta.oidc.token_endpoint import client_credentials, refresh
from dta.oidc.token_store import TokenStore
from dta.oidc.tokens import OAuthError, TokenSet
from dta.oidc.verifier import TokenVerifier, VerifiedToken

__all__ = ["APP", "PERSON", "TOKEN_REASONS", "CodeLogin", "DeviceAuthorization", "DeviceLogin",
           "HttpClient", "JwksCache", "LoginFailed", "LoginResult", "LoopbackRedirect",
           "OAuthError", "OidcError", "ProviderInvalid", "ProviderMetadata",
           "ProviderUnreachable", "Subject", "TokenInvalid", "TokenSet", "TokenStore",
           "TokenStoreError", "TokenVerifier", "TrustedIssuers", "VerifiedToken",
           "client_credentials", "discover", "refresh"]
