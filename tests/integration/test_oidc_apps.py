"""Apps: a client-credentials access token from the real provider, verified by a D-TA."""

import pytest

from dta.oidc import (
    APP,
    OAuthError,
    TokenInvalid,
    TokenVerifier,
    TrustedIssuers,
    client_credentials,
)
from dta.oidc.errors import OidcError
from tests.fixtures.oidc import APP_CLIENT, OTHER_RESOURCE, RESOURCE


def app_token(metadata, http, resource=RESOURCE, secret=APP_CLIENT["client_secret"]):
    return client_credentials(metadata, client_id=APP_CLIENT["client_id"], client_secret=secret,
                              resource=resource, http=http)


def test_client_credentials_token_is_accepted_and_names_the_app(oidc_metadata, oidc_http):
    tokens = app_token(oidc_metadata, oidc_http)
    verified = TokenVerifier(oidc_metadata, audience=RESOURCE,
                             http=oidc_http).verify_access_token(tokens.access_token)
    assert verified.kind == "access" and verified.alg == "ES256"
    assert verified.subject.kind == APP
    assert verified.subject.name == APP_CLIENT["client_id"]
    assert verified.subject.encode() == APP_CLIENT["client_id"].encode()
    assert verified.claims["aud"] == RESOURCE
    assert abs(verified.expires_at - tokens.expires_at) < 5  # exp vs. our clock + expires_in


def test_token_for_another_dta_is_refused_as_wrong_audience(oidc_metadata, oidc_http):
    other = app_token(oidc_metadata, oidc_http, resource=OTHER_RESOURCE)
    verifier = TokenVerifier(oidc_metadata, audience=RESOURCE, http=oidc_http)
    with pytest.raises(TokenInvalid) as refused:
        verifier.verify_access_token(other.access_token)
    assert refused.value.reason == "wrong-audience"


def test_wrong_client_secret_is_an_oauth_error(oidc_metadata, oidc_http):
    with pytest.raises(OAuthError) as refused:
        app_token(oidc_metadata, oidc_http, secret="not-the-secret")
    assert refused.value.error == "invalid_client"


def test_issuer_not_trusted_for_apps_refuses_app_tokens(oidc_metadata, oidc_http):
    tokens = app_token(oidc_metadata, oidc_http)
    verifier = TokenVerifier(oidc_metadata, audience=RESOURCE, http=oidc_http, accept_apps=False)
    with pytest.raises(TokenInvalid) as refused:
        verifier.verify_access_token(tokens.access_token)
    assert refused.value.reason == "apps-not-accepted"


def test_trusted_issuers_route_by_iss_and_refuse_unknown_issuers(oidc_metadata, oidc_http,
                                                                 forge):
    issuers = TrustedIssuers([TokenVerifier(oidc_metadata, audience=RESOURCE, http=oidc_http)])
    tokens = app_token(oidc_metadata, oidc_http)
    assert issuers.verify_access_token(tokens.access_token).subject.kind == APP
    stranger = forge.sign(forge.claims(iss="https://other-issuer.test"))
    with pytest.raises(TokenInvalid) as refused:
        issuers.verify_access_token(stranger)
    assert refused.value.reason == "unknown-issuer"


def test_only_one_issuer_may_authenticate_apps(oidc_metadata, oidc_http):
    from dataclasses import replace

    other = replace(oidc_metadata, issuer="https://other-issuer.test",
                    jwks_uri="https://other-issuer.test/jwks")
    both = [TokenVerifier(oidc_metadata, audience=RESOURCE, http=oidc_http),
            TokenVerifier(other, audience=RESOURCE, http=oidc_http)]
    with pytest.raises(OidcError, match="only one issuer may authenticate apps"):
        TrustedIssuers(both)
    both[1].accept_apps = False
    assert TrustedIssuers(both).issuers == (oidc_metadata.issuer, "https://other-issuer.test")
