"""Every bad token gets 401 with a problem document naming what failed, a ShareRefused entry in
the D-TA's log, and never a share; a subject over its rate gets 429; unauthenticated refusals
past the log budget are answered and counted, not logged.

Bad-claim tokens are signed with the provider's own key (only the claim is wrong); bad-key
tokens with keys the test makes (tests.fixtures.oidc.Forge)."""

import itertools
import json
import time

import httpx
import jwt
import pytest

from dta.http import Rate
from dta.http.share_route import NO_SUBJECT
from dtacore import entries
from tests.fixtures.http import TEST_RATES, app_token, born
from tests.fixtures.oidc import APP_CLIENT, Forge
from tests.integration.test_oidc_refusals import _public_pem

_epochs = itertools.count(1000)


def _flip(segment: str, at: int) -> str:
    return segment[:at] + ("A" if segment[at] != "A" else "B") + segment[at + 1:]


def _tampered(forge, aud):
    header, payload, signature = forge.sign(forge.claims(aud=aud)).split(".")
    other = forge.sign(forge.claims(aud=aud, sub="someone-else", client_id="someone-else"))
    return ".".join((header, other.split(".")[1], signature))


NOW = int(time.time())
# (case, token maker given the forge and the D-TA's audience, the reason the D-TA names)
CASES = [
    ("expired", lambda f, a: f.sign(f.claims(aud=a, iat=NOW - 7200, exp=NOW - 3600)),
     "expired"),
    ("not-yet-valid", lambda f, a: f.sign(f.claims(aud=a, nbf=NOW + 3600)), "not-yet-valid"),
    ("wrong-audience", lambda f, a: f.sign(f.claims(aud="https://dta-b.test/")),
     "wrong-audience"),
    ("wrong-issuer", lambda f, a: f.sign(f.claims(aud=a, iss="http://127.0.0.1:1")),
     "unknown-issuer"),
    ("alg-none", lambda f, a: jwt.encode(f.claims(aud=a), None, algorithm="none",
                                         headers={"kid": f.provider_key()[0], "typ": "at+jwt"}),
     "alg-none"),
    ("hs256-with-the-public-key", lambda f, a: f.hmac_with_public_key(
        f.claims(aud=a), _public_pem(f), f.provider_key()[0]), "alg-hmac"),
    ("unknown-kid", lambda f, a: f.sign(f.claims(aud=a), key=f.new_ec_key(),
                                        kid="not-a-provider-kid"), "unknown-kid"),
    ("re-signed-with-another-key", lambda f, a: f.sign(f.claims(aud=a), key=f.new_ec_key(),
                                                       kid=f.provider_key()[0]),
     "bad-signature"),
    ("tampered-payload", _tampered, "bad-signature"),
    ("tampered-signature", lambda f, a: ".".join(
        (lambda h, p, s: (h, p, _flip(s, 10)))(*f.sign(f.claims(aud=a)).split("."))),
     "bad-signature"),
]


def post_share(url, token, epoch, **kw):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.post(url + "shares", json={"epoch": epoch}, headers=headers, **kw)


def problem(response, status, slug):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    doc = response.json()
    assert doc["status"] == status and doc["type"].endswith(f"/problems/{slug}")
    assert doc["title"] and doc["detail"] and "share" not in doc
    return doc


def logged_refusal(dta, index, reason, epoch):
    entry = entries.decode(dta.service.log.store.entry(index))
    assert isinstance(entry, entries.ShareRefused)
    assert entry.reason == reason and entry.epoch == epoch
    return entry


@pytest.fixture(scope="module")
def forge(http_oidc_provider):
    return Forge(http_oidc_provider)


@pytest.mark.parametrize("make_token, reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_token_gets_401_a_logged_refusal_and_no_share(http_federation, forge,
                                                            make_token, reason):
    dta = http_federation[0]
    epoch = next(_epochs)
    response = post_share(dta.url, make_token(forge, dta.ctx.settings.audience), epoch)
    doc = problem(response, 401, "invalid-token")
    assert doc["reason"] == reason and reason in doc["detail"]
    assert response.headers["www-authenticate"].startswith('Bearer realm="dta", '
                                                           'error="invalid_token"')
    entry = logged_refusal(dta, doc["refusal_log_index"], entries.REFUSED_UNAUTHENTICATED, epoch)
    claimed = entry.subject.decode("ascii")
    assert claimed in (APP_CLIENT["client_id"], "someone-else", NO_SUBJECT.decode())
    assert dta.service.index.share(entry.subject, epoch) is None  # never a share


def test_the_control_token_from_the_same_forge_gets_a_share(http_federation, forge):
    dta = http_federation[0]
    response = post_share(dta.url, forge.sign(forge.claims(aud=dta.ctx.settings.audience)),
                          next(_epochs))
    assert response.status_code == 200 and len(bytes.fromhex(response.json()["share"])) == 32


def test_no_token_and_a_malformed_header_are_missing_token(http_federation):
    dta = http_federation[0]
    for headers in ({}, {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
                    {"Authorization": "Bearer"}):
        epoch = next(_epochs)
        response = httpx.post(dta.url + "shares", json={"epoch": epoch}, headers=headers)
        doc = problem(response, 401, "missing-token")
        assert response.headers["www-authenticate"] == 'Bearer realm="dta"'
        entry = logged_refusal(dta, doc["refusal_log_index"], entries.REFUSED_UNAUTHENTICATED,
                               epoch)
        assert entry.subject == NO_SUBJECT


def test_attacker_text_in_a_token_is_escaped_in_the_log_and_the_answer(http_federation, forge):
    dta = http_federation[0]
    epoch = next(_epochs)
    evil = "mallory\x1b[31m\u202e\n"
    token = forge.sign(forge.claims(aud=dta.ctx.settings.audience, sub=evil, client_id=evil),
                       key=forge.new_ec_key(), kid=forge.provider_key()[0])
    doc = problem(post_share(dta.url, token, epoch), 401, "invalid-token")
    entry = logged_refusal(dta, doc["refusal_log_index"], entries.REFUSED_UNAUTHENTICATED, epoch)
    assert entry.subject == b"mallory\\x1b[31m\\u202e\\n"
    assert all(0x20 <= b < 0x7F for b in entry.subject)
    assert "\x1b" not in json.dumps(doc, ensure_ascii=False)


def test_a_malformed_body_is_a_bad_request_not_a_refusal(http_federation, http_metadata):
    dta = http_federation[0]
    token = app_token(http_metadata, dta.ctx.settings.audience)
    size = dta.service.log.store.size
    for body in (b"", b"[]", b'{"epoch": "7"}', b'{"epoch": -1}', b'{"epoch": 7, "x": 1}',
                 b'{"epoch": 4294967296}'):
        response = httpx.post(dta.url + "shares", content=body,
                              headers={"Authorization": f"Bearer {token}"})
        problem(response, 400, "bad-request")
    response = httpx.post(dta.url + "shares", content=b"x" * 10_000,
                          headers={"Authorization": f"Bearer {token}"})
    problem(response, 413, "too-large")
    assert dta.service.log.store.size == size  # nothing logged, nothing issued


@pytest.fixture(scope="module")
def strict_dta(spare_dtas, regtest_node, http_oidc_provider):
    """A D-TA with a tight share rate (2 at once, then 1 a minute) and an unauthenticated
    refusal budget of 3 entries."""
    rates = dict(TEST_RATES, share_rate=Rate(per_minute=1, burst=2),
                 refusal_log_total=Rate(per_minute=1, burst=3))
    dta = born(spare_dtas.pop(), regtest_node, http_oidc_provider.issuer, rates=rates)
    yield dta
    dta.close()


def test_a_subject_over_its_rate_gets_429_and_a_logged_refusal(strict_dta, http_metadata):
    token = app_token(http_metadata, strict_dta.ctx.settings.audience)
    assert [post_share(strict_dta.url, token, e).status_code for e in (1, 2)] == [200, 200]
    response = post_share(strict_dta.url, token, 3)
    doc = problem(response, 429, "rate-limited")
    assert int(response.headers["retry-after"]) == doc["retry_after"] >= 1
    logged_refusal(strict_dta, doc["refusal_log_index"], entries.REFUSED_RATE_LIMITED, 3)
    assert strict_dta.service.index.share(APP_CLIENT["client_id"].encode(), 3) is None


def test_unauthenticated_refusals_past_the_budget_are_counted_not_logged(strict_dta):
    before = strict_dta.ctx.refusals.snapshot()
    docs = [problem(post_share(strict_dta.url, "not-a-jwt", 100 + i), 401, "invalid-token")
            for i in range(5)]
    logged = [d for d in docs if "refusal_log_index" in d]
    # (TrustedIssuers routes by the unverified iss first: a token without one is unknown-issuer)
    assert len(logged) == 3 and all(d["reason"] == "unknown-issuer" for d in docs)
    after = strict_dta.ctx.refusals.snapshot()
    assert after["logged"] - before["logged"] == 3
    assert after["unlogged"] - before["unlogged"] == 2
