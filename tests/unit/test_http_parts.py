"""The HTTP API's pieces on their own: problem documents, token buckets, the share request's
parsing, the claimed subject of a refused token, the seal-chain format, the SVG plot and the
status page's escaping."""

import html
import json

import jwt
import pytest

from dta.errors import ConfigError
from dta.http import plot, seal_chain, status_page
from dta.http.problems import MEDIA_TYPE, TYPES, Problem, type_page
from dta.http.ratelimit import Buckets, Rate
from dta.http.server import parse_listen
from dta.http.share_route import NO_SUBJECT, bearer, claimed_subject, parse_body
from dtacore.errors import DecodeError


def test_a_problem_is_an_rfc9457_document_with_its_own_type_uri():
    p = Problem("invalid-token", "the access token was refused (expired): ...",
                extra={"reason": "expired"}, headers={"WWW-Authenticate": 'Bearer realm="dta"'})
    response = p.response("https://dta.example/api/", "/shares")
    doc = json.loads(response.body)
    assert response.status_code == 401 and response.media_type == MEDIA_TYPE
    assert doc == {"type": "https://dta.example/api/problems/invalid-token", "status": 401,
                   "title": TYPES["invalid-token"].title, "instance": "/shares",
                   "detail": "the access token was refused (expired): ...", "reason": "expired"}
    assert response.headers["www-authenticate"] == 'Bearer realm="dta"'
    assert response.headers["cache-control"] == "no-store"
    with pytest.raises(ValueError):
        Problem("no-such-type", "x")


def test_every_problem_type_has_a_page_and_an_error_status():
    for slug, kind in TYPES.items():
        assert 400 <= kind.status < 600
        assert html.escape(kind.title) in type_page(slug)
    assert type_page("<script>") is None


def test_a_bucket_lets_a_burst_through_then_refills_at_its_rate():
    now = [0.0]
    buckets = Buckets(Rate(per_minute=60, burst=2), clock=lambda: now[0])
    assert [buckets.take("alice") for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("alice") == pytest.approx(1.0)  # one token a second
    assert buckets.take("bob") == 0.0  # per key
    now[0] += 1.0
    assert buckets.take("alice") == 0.0 and buckets.take("alice") > 0


def test_the_bucket_table_is_bounded():
    buckets = Buckets(Rate(per_minute=1, burst=1), max_keys=3, clock=lambda: 0.0)
    for key in range(10):
        buckets.take(key)
    assert len(buckets._buckets) == 3
    assert buckets.take(0) == 0.0  # dropped, so full again: never a refusal it did not earn


@pytest.mark.parametrize("per_minute, burst", [(0, 1), (1, 0), (-1, 5), (1e9, 1)])
def test_a_rate_out_of_range_is_a_config_error(per_minute, burst):
    with pytest.raises(ConfigError):
        Rate(per_minute=per_minute, burst=burst)


@pytest.mark.parametrize("header, token", [
    ("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"),
    (None, None), ("Basic abc", None), ("Bearer", None), ("Bearer a b", None),
    ("Bearer " + "x" * 9000, None)])
def test_bearer_header(header, token):
    assert bearer(header) == token


@pytest.mark.parametrize("body, epoch, ok", [
    (b'{"epoch": 7}', 7, True), (b'{"epoch": 0}', 0, True),
    (b'{"epoch": 4294967295}', 4294967295, True), (b'{"epoch": 4294967296}', 0, False),
    (b'{"epoch": -1}', 0, False), (b'{"epoch": 7.0}', 0, False), (b'{"epoch": true}', 0, False),
    (b'{"epoch": "7"}', 0, False), (b'{}', 0, False), (b'{"epoch": 1, "x": 2}', 0, False),
    (b"[7]", 0, False), (b"", 0, False), (b"\xff", 0, False), (b" " * 300, 0, False)])
def test_share_request_body(body, epoch, ok):
    got, error = parse_body(body)
    assert got == epoch and (error is None) == ok


def _unsigned(claims: dict) -> str:
    return jwt.encode(claims, None, algorithm="none")


def test_the_claimed_subject_of_a_refused_token_is_escaped_and_bounded():
    assert claimed_subject(None) == NO_SUBJECT == claimed_subject("garbage")
    assert claimed_subject(_unsigned({"sub": "app-1", "client_id": "app-1"})) == b"app-1"
    person = claimed_subject(_unsigned({"iss": "https://id.test", "sub": "alice",
                                        "client_id": "cli"}))
    assert person == b"https://id.test alice"
    evil = claimed_subject(_unsigned({"sub": "a\x1b[2J\u202e" * 200, "client_id":
                                      "a\x1b[2J\u202e" * 200}))
    assert all(0x20 <= b < 0x7F for b in evil) and len(evil) <= 512
    assert claimed_subject(_unsigned({"sub": 5, "client_id": []})) == NO_SUBJECT


@pytest.mark.parametrize("text, want", [("127.0.0.1:8080", ("127.0.0.1", 8080)),
                                        ("[::1]:0", ("::1", 0)), ("0.0.0.0:443", ("0.0.0.0", 443))])
def test_listen_address(text, want):
    assert parse_listen(text) == want


@pytest.mark.parametrize("text", ["8080", "host:", ":80", "host:99999", "host:http"])
def test_bad_listen_address(text):
    with pytest.raises(ConfigError):
        parse_listen(text)


def _chain(**changes):
    doc = {"format": seal_chain.FORMAT, "network": "regtest", "dta_id": "11" * 32,
           "identity_pubkey": "02" + "22" * 32, "confirmations_required": 1,
           "checkpoint_height": 10, "headers": ["00" * 80],
           "steps": [{"step": 0, "kind": "birth", "sequence": None, "tree_size": None,
                      "root": None, "state": "final", "txid": "33" * 32, "height": 11,
                      "tx": "aa", "txout_proof": "bb", "fee": 159}]}
    doc.update(changes)
    return json.dumps(doc)


def test_the_seal_chain_document_parses_strictly():
    chain = seal_chain.parse(_chain())
    assert chain.steps[0].kind == "birth" and chain.steps[0].tx == b"\xaa"
    assert chain.header_bytes == bytes(80)
    for bad in (_chain(format="x"), _chain(network="moonnet"), _chain(headers=["00"]),
                _chain(steps=[]), _chain(dta_id="11"), _chain(checkpoint_height=-1),
                _chain(steps=[{"step": 0, "kind": "rebirth", "state": "x"}]),
                _chain(steps=[{"step": 0, "kind": "birth", "state": "x", "height": -3}])):
        with pytest.raises(DecodeError):
            seal_chain.parse(bad)


def test_the_plot_draws_both_series_as_steps_and_escapes_nothing_it_did_not_make():
    svg = plot.growth_and_cost([(100.0, 1), (110.0, 5), (120.0, 9)], [(105.0, 159), (115.0, 350)])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2
    assert 'data-series="log entries"' in svg and 'data-series="anchoring cost (sat)"' in svg
    growth = svg.split('data-series="log entries"')[1].split('points="')[1].split('"')[0]
    assert len(growth.split()) == 5  # three points, two steps between them
    assert "No checkpoints" in plot.growth_and_cost([], [])


def test_the_plot_thins_a_long_series():
    svg = plot.growth_and_cost([(float(t), t) for t in range(10_000)], [])
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) <= 2 * plot.MAX_POINTS + 2


def test_the_status_page_escapes_what_devices_chose():
    m = {"identity": {"name": "<b>x</b>", "dta_id": "ab" * 32, "network": "regtest",
                      "identity_pubkey": "02" + "cd" * 32, "software_version": "dta/0.1.0",
                      "created": 1},
         "birth": None, "k": 1, "tip": None, "steps": [], "fees_spent": 0,
         "unqueued_checkpoints": [], "log": {"tree_size": 0, "checkpoints": 0},
         "checkpoints": [], "growth": [], "cost": [],
         "devices": {"counts": {"pending": 1, "enrolled": 0, "revoked": 0}, "refused_frames":
                     {"<img src=x onerror=alert(1)>": 1},
                     "shown": [{"key_id": "00" * 8, "state": "pending",
                                "board": "<script>alert(1)</script>", "firmware": "\"'&",
                                "last_seen": 1}]},
         "shares": {"scanned": 0, "issued": 0, "refused": {}},
         "http_refusals": {"by_reason": {}, "logged": 0, "unlogged": 0}}
    page = status_page.render(m)
    assert "<script>" not in page and "<img" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;" in page and "&quot;&#x27;&amp;" in page
