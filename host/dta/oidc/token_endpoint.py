"""Requests to the provider's token endpoint: the app grant (client credentials), refresh, and
the shared request the people flows (device code, authorization code) end with.

Confidential clients (apps) authenticate with client_secret_basic, the id and secret
form-urlencoded before base64 as RFC 6749 section 2.3.1 requires; public clients (``dta login``)
send only their client_id. ``resource`` (RFC 8707) names the D-TA the access token is for: its
``aud``.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from dta.oidc.discovery import ProviderMetadata
from dta.oidc.http import HttpClient
from dta.oidc.tokens import TokenSet, parse_token_response

CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"


def basic_auth(client_id: str, client_secret: str) -> str:
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def request_tokens(metadata: ProviderMetadata, form: dict, *, client_id: str,
                   client_secret: str | None = None, http: HttpClient | None = None,
                   what: str = "token request") -> TokenSet:
    """POST ``form`` to the token endpoint; a TokenSet, or OAuthError / ProviderUnreachable /
    ProviderInvalid."""
    headers = None
    form = dict(form)
    if client_secret is None:
        form["client_id"] = client_id
    else:
        headers = {"Authorization": basic_auth(client_id, client_secret)}
    client = http or HttpClient()
    try:
        status, body = client.post_form(metadata.token_endpoint, form, what, headers=headers)
    finally:
        if http is None:
            client.close()
    return parse_token_response(status, body, issuer=metadata.issuer, client_id=client_id,
                                what=what)


def client_credentials(metadata: ProviderMetadata, *, client_id: str, client_secret: str,
                       resource: str, scope: str | None = None,
                       http: HttpClient | None = None) -> TokenSet:
    """An app's access token for the D-TA named by ``resource`` (RFC 6749 section 4.4)."""
    form = {"grant_type": CLIENT_CREDENTIALS, "resource": resource}
    if scope:
        form["scope"] = scope
    return request_tokens(metadata, form, client_id=client_id, client_secret=client_secret,
                          http=http, what="client credentials")


def refresh(metadata: ProviderMetadata, tokens: TokenSet, *, resource: str | None = None,
            http: HttpClient | None = None) -> TokenSet:
    """New tokens from ``tokens.refresh_token``; ``resource`` picks the D-TA the new access
    token is for (one login, one access token per D-TA). The refresh token is kept when the
    provider does not rotate it."""
    if tokens.refresh_token is None:
        raise ValueError("these tokens have no refresh token")
    form = {"grant_type": REFRESH_TOKEN, "refresh_token": tokens.refresh_token}
    if resource:
        form["resource"] = resource
    new = request_tokens(metadata, form, client_id=tokens.client_id, http=http, what="refresh")
    if new.refresh_token is None:
        new = TokenSet(**{**new.to_json(), "refresh_token": tokens.refresh_token})
    return new
