"""Every way a token can be bad gets its own reason, a logged refusal and no VerifiedToken.

Bad-claim tokens are signed with the provider's own key (read from its state directory), so
only the claim is wrong; bad-key tokens use keys this test generates. All are made with PyJWT.
"""

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dta.oidc import TokenInvalid, TokenVerifier, client_credentials
from dta.oidc.verifier import DEFAULT_LEEWAY
from tests.fixtures.oidc import APP_CLIENT, CLI_CLIENT_ID, RESOURCE

NOW = int(time.time())


def _public_pem(forge):
    return forge.provider_key()[1].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _public_der(forge):
    return forge.provider_key()[1].public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _public_jwk_json(forge):
    return json.dumps({k: v for k, v in forge.provider.signing_keys()[0].items()
                       if k != "d"}).encode()


def _flip(segment: str, at: int) -> str:
    return segment[:at] + ("A" if segment[at] != "A" else "B") + segment[at + 1:]


def _tampered_signature(forge):
    header, payload, signature = forge.sign(forge.claims()).split(".")
    return ".".join((header, payload, _flip(signature, 10)))


def _tampered_payload(forge):
    header, _, signature = forge.sign(forge.claims()).split(".")
    other_payload = forge.sign(forge.claims(sub="someone-else")).split(".")[1]
    return ".".join((header, other_payload, signature))


def _flipped_payload(forge):
    header, payload, signature = forge.sign(forge.claims()).split(".")
    return ".".join((header, _flip(payload, 12), signature))


# (case, token maker, reason). Claims are a valid app token's unless the case changes them.
CASES = [
    ("expired", lambda f: f.sign(f.claims(iat=NOW - 7200, exp=NOW - 3600)), "expired"),
    ("expired-beyond-leeway", lambda f: f.sign(f.claims(iat=NOW - 600,
                                                        exp=NOW - DEFAULT_LEEWAY - 20)),
     "expired"),
    ("nbf-in-future", lambda f: f.sign(f.claims(nbf=NOW + 3600)), "not-yet-valid"),
    ("iat-in-future", lambda f: f.sign(f.claims(iat=NOW + 3600, exp=NOW + 7200)),
     "not-yet-valid"),
    ("wrong-audience", lambda f: f.sign(f.claims(aud="https://evil.test/")), "wrong-audience"),
    ("wrong-audience-list", lambda f: f.sign(f.claims(aud=["https://a.test/", "https://b.test/"])),
     "wrong-audience"),
    ("wrong-issuer", lambda f: f.sign(f.claims(iss="http://127.0.0.1:1")), "wrong-issuer"),
    ("alg-none", lambda f: jwt.encode(f.claims(), None, algorithm="none",
                                      headers={"kid": f.provider_key()[0], "typ": "at+jwt"}),
     "alg-none"),
    ("hs256-public-pem", lambda f: f.hmac_with_public_key(f.claims(), _public_pem(f),
                                                          f.provider_key()[0]), "alg-hmac"),
    ("hs256-public-der", lambda f: f.hmac_with_public_key(f.claims(), _public_der(f),
                                                          f.provider_key()[0]), "alg-hmac"),
    ("hs256-public-jwk", lambda f: f.hmac_with_public_key(f.claims(), _public_jwk_json(f),
                                                          f.provider_key()[0]), "alg-hmac"),
    ("alg-not-allowed", lambda f: f.sign(f.claims(), key=ec.generate_private_key(ec.SECP384R1()),
                                         alg="ES384", kid=f.provider_key()[0]),
     "alg-not-allowed"),
    ("unknown-kid", lambda f: f.sign(f.claims(), key=f.new_ec_key(), kid="not-a-provider-kid"),
     "unknown-kid"),
    ("resigned-with-another-key", lambda f: f.sign(f.claims(), key=f.new_ec_key(),
                                                   kid=f.provider_key()[0]), "bad-signature"),
    ("rs256-under-an-ec-kid", lambda f: f.sign(
        f.claims(), key=rsa.generate_private_key(65537, 2048), alg="RS256",
        kid=f.provider_key()[0]), "key-mismatch"),
    ("tampered-signature", _tampered_signature, "bad-signature"),
    ("tampered-payload-spliced", _tampered_payload, "bad-signature"),
    ("tampered-payload-flipped", _flipped_payload, "bad-signature"),
    ("id-token-typ-as-access-token", lambda f: f.sign(f.claims(), typ="JWT"), "wrong-typ"),
    ("no-typ-as-access-token", lambda f: f.sign(f.claims(), typ=None), "wrong-typ"),
    ("missing-client-id", lambda f: f.sign(f.claims(client_id=None)), "missing-claim"),
    ("missing-jti", lambda f: f.sign(f.claims(jti=None)), "missing-claim"),
    ("missing-exp", lambda f: f.sign(f.claims(exp=None)), "missing-claim"),
    ("exp-as-string", lambda f: f.sign(f.claims(exp=str(int(time.time()) + 300))), "bad-claim"),
    ("crit-header", lambda f: jwt.encode(
        f.claims(), f.provider_key()[1], algorithm="ES256",
        headers={"kid": f.provider_key()[0], "typ": "at+jwt", "crit": ["exp"]}), "bad-header"),
    ("control-characters-in-sub", lambda f: f.sign(f.claims(sub="alice\x1b[31m\n")),
     "bad-subject"),
    ("not-a-jwt", lambda f: "not-a-jwt", "malformed"),
    ("jwe-shaped", lambda f: "a.b.c.d.e", "malformed"),
    ("bad-base64", lambda f: "!!!.!!!.!!!", "malformed"),
    ("too-long", lambda f: f.sign(f.claims(pad="x" * 9000)), "malformed"),
    ("non-ascii", lambda f: "é" + f.sign(f.claims()), "malformed"),
]


@pytest.fixture
def verifier(oidc_metadata, oidc_http):
    return TokenVerifier(oidc_metadata, audience=RESOURCE, http=oidc_http)


@pytest.mark.parametrize("make_token, reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_access_token_refused_with_its_reason_and_logged(verifier, forge, caplog,
                                                             make_token, reason):
    token = make_token(forge)
    with caplog.at_level("WARNING", logger="dta.oidc"), pytest.raises(TokenInvalid) as refused:
        verifier.verify_access_token(token)
    assert refused.value.reason == reason
    logged = [r for r in caplog.records if getattr(r, "oidc_reason", None) == reason]
    assert len(logged) == 1 and logged[0].oidc_kind == "access"
    line = logged[0].getMessage()
    assert token not in line and "\x1b" not in line and "\n" not in line


def test_the_same_claims_signed_properly_are_accepted(verifier, forge):
    """The control for every case above: the forge itself makes tokens the verifier accepts."""
    assert verifier.verify_access_token(forge.sign(forge.claims())).subject.name == \
        APP_CLIENT["client_id"]


def test_expiry_within_the_leeway_is_accepted(verifier, forge):
    # Expired half a leeway ago, as of this moment (the module's NOW may be minutes old when
    # this runs on a busy machine).
    exp = int(time.time()) - DEFAULT_LEEWAY // 2
    token = forge.sign(forge.claims(iat=exp - 600, exp=exp))
    assert verifier.verify_access_token(token).expires_at == exp


def test_unknown_kid_costs_exactly_one_jwks_refresh(verifier, forge, oidc_provider):
    verifier.verify_access_token(forge.sign(forge.claims()))  # JWKS cached
    before = oidc_provider.stats()["jwks_requests"]
    with pytest.raises(TokenInvalid) as refused:
        verifier.verify_access_token(forge.sign(forge.claims(), key=forge.new_ec_key(),
                                                kid="rotated-maybe"))
    assert refused.value.reason == "unknown-kid"
    assert oidc_provider.stats()["jwks_requests"] == before + 1


def test_control_characters_are_escaped_in_the_refusal_log(verifier, forge, caplog):
    token = forge.sign(forge.claims(sub="alice\x1b[31m\nFAKE LOG LINE"))
    with caplog.at_level("WARNING", logger="dta.oidc"), pytest.raises(TokenInvalid):
        verifier.verify_access_token(token)
    line = caplog.records[-1].getMessage()
    assert "sub=alice\\x1b[31m\\nFAKE LOG LINE" in line


def _id_claims(forge, **changes):
    claims = forge.claims(aud=CLI_CLIENT_ID, sub="alice", client_id=None, jti=None,
                          nonce="the-nonce")
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


ID_CASES = [
    ("nonce-mismatch", lambda f: f.sign(_id_claims(f, nonce="another-nonce"), typ=None),
     "nonce-mismatch"),
    ("nonce-missing", lambda f: f.sign(_id_claims(f, nonce=None), typ=None), "nonce-mismatch"),
    ("azp-other-client", lambda f: f.sign(_id_claims(f, azp="someone-else"), typ=None),
     "wrong-azp"),
    ("several-audiences-without-azp", lambda f: f.sign(
        _id_claims(f, aud=[CLI_CLIENT_ID, "other"]), typ=None), "wrong-azp"),
    ("issued-to-another-client", lambda f: f.sign(_id_claims(f, aud="other"), typ=None),
     "wrong-audience"),
    ("access-token-as-id-token", lambda f: f.sign(_id_claims(f), typ="at+jwt"), "wrong-typ"),
    ("expired", lambda f: f.sign(_id_claims(f, exp=NOW - 3600, iat=NOW - 7200), typ=None),
     "expired"),
    ("missing-sub", lambda f: f.sign(_id_claims(f, sub=None), typ=None), "missing-claim"),
]


@pytest.mark.parametrize("make_token, reason", [c[1:] for c in ID_CASES],
                         ids=[c[0] for c in ID_CASES])
def test_bad_id_token_refused_with_its_reason(verifier, forge, caplog, make_token, reason):
    with caplog.at_level("WARNING", logger="dta.oidc"), pytest.raises(TokenInvalid) as refused:
        verifier.verify_id_token(make_token(forge), client_id=CLI_CLIENT_ID, nonce="the-nonce")
    assert refused.value.reason == reason
    assert [r.oidc_kind for r in caplog.records if getattr(r, "oidc_reason", None) == reason] \
        == ["id"]


def test_good_id_token_names_the_person(verifier, forge, oidc_provider):
    for typ in (None, "JWT"):
        verified = verifier.verify_id_token(forge.sign(_id_claims(forge), typ=typ),
                                            client_id=CLI_CLIENT_ID, nonce="the-nonce")
        assert verified.subject.name == f"{oidc_provider.issuer} alice"


def test_real_provider_token_with_a_flipped_byte_is_refused(verifier, oidc_metadata, oidc_http):
    tokens = client_credentials(oidc_metadata, client_id=APP_CLIENT["client_id"],
                                client_secret=APP_CLIENT["client_secret"], resource=RESOURCE,
                                http=oidc_http)
    header, payload, signature = tokens.access_token.split(".")
    assert verifier.verify_access_token(tokens.access_token).subject.kind == "app"
    with pytest.raises(TokenInvalid) as refused:
        verifier.verify_access_token(".".join((header, _flip(payload, 20), signature)))
    assert refused.value.reason == "bad-signature"
