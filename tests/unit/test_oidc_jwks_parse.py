"""JWKS parsing and key selection: only signature keys that fit the alg are ever used."""

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dta.oidc import ProviderInvalid
from dta.oidc.jwks import MAX_KEYS, key_fits, parse_jwks


def jwk_of(private_key, **extra):
    algorithm = {ec.EllipticCurvePrivateKey: jwt.algorithms.ECAlgorithm,
                 rsa.RSAPrivateKey: jwt.algorithms.RSAAlgorithm,
                 ed25519.Ed25519PrivateKey: jwt.algorithms.OKPAlgorithm}
    for kind, alg in algorithm.items():
        if isinstance(private_key, kind):
            return {**alg.to_jwk(private_key.public_key(), as_dict=True), **extra}
    raise TypeError(type(private_key))


EC = jwk_of(ec.generate_private_key(ec.SECP256R1()), kid="ec")
RSA = jwk_of(rsa.generate_private_key(65537, 2048), kid="rsa")
ED = jwk_of(ed25519.Ed25519PrivateKey.generate(), kid="ed")


def test_signature_keys_are_kept_by_kid():
    by_kid, unnamed = parse_jwks({"keys": [EC, RSA, ED]})
    assert sorted(by_kid) == ["ec", "ed", "rsa"] and unnamed == ()


def test_symmetric_encryption_and_unknown_keys_are_dropped():
    oct_key = {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}
    enc_key = {**EC, "kid": "enc", "use": "enc"}
    odd = {"kty": "AKP", "kid": "pq", "alg": "ML-DSA-44", "pub": "AA"}
    broken = {**EC, "kid": "broken", "x": "AAAA"}
    by_kid, _ = parse_jwks({"keys": [oct_key, enc_key, odd, broken, EC]})
    assert list(by_kid) == ["ec"]


@pytest.mark.parametrize("doc", [{}, {"keys": {}}, {"keys": [EC] * (MAX_KEYS + 1)},
                                 {"keys": [EC, EC]}, {"keys": [{**EC, "kid": 7}]},
                                 {"keys": [{**EC, "kid": ""}]}])
def test_bad_documents_are_refused(doc):
    with pytest.raises(ProviderInvalid):
        parse_jwks(doc)


@pytest.mark.parametrize("jwk, alg, fits", [
    (EC, "ES256", True), (EC, "ES384", False), (EC, "RS256", False), (EC, "EdDSA", False),
    (RSA, "RS256", True), (RSA, "PS256", True), (RSA, "ES256", False),
    (ED, "EdDSA", True), (ED, "ES256", False),
    ({**EC, "alg": "ES384"}, "ES256", False), ({**RSA, "alg": "RS256"}, "PS256", False),
    ({**EC, "use": "enc"}, "ES256", False), ({**EC, "key_ops": ["sign"]}, "ES256", False),
    ({**EC, "key_ops": ["verify"]}, "ES256", True),
])
def test_key_fits_only_its_own_algorithms(jwk, alg, fits):
    assert key_fits(jwk, alg) is fits
