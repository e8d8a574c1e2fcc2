"""Token endpoint answers parsed strictly; PKCE S256 against RFC 7636's own example."""

import pytest

from dta.oidc import OAuthError, ProviderInvalid
from dta.oidc.code_flow import pkce_pair, s256_challenge
from dta.oidc.tokens import parse_token_response

GOOD = {"access_token": "eyJ.a.b", "token_type": "Bearer", "expires_in": 600,
        "refresh_token": "r", "id_token": "eyJ.i.d", "scope": "openid"}


def parse(body, status=200):
    return parse_token_response(status, body, issuer="https://idp.test", client_id="c",
                                what="test", now=1000.0)


def test_good_answer():
    t = parse(GOOD)
    assert (t.access_token, t.expires_at, t.refresh_token, t.id_token) == (
        "eyJ.a.b", 1600.0, "r", "eyJ.i.d")
    assert not t.expired(now=1500.0) and t.expired(now=1580.0)


@pytest.mark.parametrize("change", [{"access_token": None}, {"access_token": 5},
                                    {"token_type": "DPoP"}, {"token_type": None},
                                    {"expires_in": 0}, {"expires_in": "600"},
                                    {"expires_in": True}, {"expires_in": 10 ** 9},
                                    {"refresh_token": ""}, {"id_token": "é"}, {"scope": 3}])
def test_bad_answers_are_refused(change):
    with pytest.raises(ProviderInvalid):
        parse({k: v for k, v in {**GOOD, **change}.items() if v is not None})


def test_error_answer_keeps_the_code_and_escapes_the_description():
    with pytest.raises(OAuthError) as refused:
        parse({"error": "invalid_grant", "error_description": "no\x1b[31m"}, status=400)
    assert refused.value.error == "invalid_grant"
    assert refused.value.description == "no\\x1b[31m"


def test_error_answer_without_a_code_is_invalid():
    with pytest.raises(ProviderInvalid):
        parse({"message": "nope"}, status=400)


def test_s256_matches_rfc7636_appendix_b():
    assert s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_pairs_are_fresh_and_consistent():
    (v1, c1), (v2, _) = pkce_pair(), pkce_pair()
    assert v1 != v2 and len(v1) == 43 and s256_challenge(v1) == c1
