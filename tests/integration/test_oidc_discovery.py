"""Discovery against the real provider: what we keep, and the issuer rules."""

import pytest

from dta.oidc import ProviderInvalid, ProviderUnreachable, discover
from dta.services.mosquitto import free_port


def test_discovery_of_the_real_provider(oidc_provider, oidc_http):
    metadata = discover(oidc_provider.issuer, http=oidc_http)
    issuer = oidc_provider.issuer
    assert metadata.issuer == issuer
    assert metadata.jwks_uri == f"{issuer}/jwks"
    assert metadata.token_endpoint == f"{issuer}/token"
    assert metadata.device_authorization_endpoint == f"{issuer}/device/auth"
    assert metadata.code_challenge_methods_supported == ("S256",)
    assert "client_credentials" in metadata.grant_types_supported
    assert metadata.authorization_response_iss_parameter_supported is True
    assert metadata.allows_http_loopback


def test_a_document_naming_another_issuer_is_refused(oidc_provider, oidc_http):
    # Same server, reached under another name: its document says 127.0.0.1, not localhost.
    other_name = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(ProviderInvalid, match="is not .*the issuer it was fetched for"):
        discover(other_name, http=oidc_http)


@pytest.mark.parametrize("issuer", ["http://idp.example.test", "ftp://127.0.0.1/",
                                    "https://user:pw@idp.example.test", "https://idp.test/#x",
                                    "https://idp.test/?tenant=1", "https://idp.test/ space",
                                    "https://" + "a" * 300 + ".test"])
def test_issuer_rules_are_checked_before_any_request(issuer, oidc_http):
    with pytest.raises(ProviderInvalid):
        discover(issuer, http=oidc_http)


def test_nothing_listening_is_unreachable(oidc_http):
    with pytest.raises(ProviderUnreachable):
        discover(f"http://127.0.0.1:{free_port()}", http=oidc_http)
