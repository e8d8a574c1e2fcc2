"""The status page of a live D-TA (real regtest node, real provider, real devices' hellos),
loaded in headless Chromium (Debian's package): what it shows is checked against the D-TA's own
stores and the node, and a screenshot is taken the way the README's is made.

    DTA_STATUS_SCREENSHOT=docs/status-page.png \
        .venv/bin/pytest tests/integration/test_status_page.py

regenerates the README's screenshot (docs/status-page.png) from this test's D-TA.
"""

import os
import struct
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from dta.anchor.store import FINAL
from tests.fixtures.fleet import signed_hello
from tests.fixtures.http import K, app_token, born, page_dom, page_screenshot
from tests.fixtures.oidc import Forge

SCREENSHOT_ENV = "DTA_STATUS_SCREENSHOT"
BLOCKS = {"td", "th", "li", "p", "dd", "dt", "h1", "h2"}


class Sections(HTMLParser):
    """The text of each <section id=...>, and every <polyline> of the plot."""

    def __init__(self):
        super().__init__()
        self.text: dict[str, str] = {}
        self.polylines: list[dict] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._open.append(attrs.get("id", ""))
            self.text.setdefault(self._open[-1], "")
        elif tag == "polyline":
            self.polylines.append(attrs)

    def handle_endtag(self, tag):
        if tag == "section" and self._open:
            self._open.pop()
        elif tag in BLOCKS and self._open:
            self.text[self._open[-1]] += " "  # cells and lines end a word, as on screen

    def handle_data(self, data):
        if self._open:
            self.text[self._open[-1]] += data

    def words(self, section: str) -> str:
        return " ".join(self.text[section].split())


@pytest.fixture(scope="module")
def busy_dta(spare_dtas, regtest_node, http_oidc_provider, http_metadata):
    """A D-TA with a day's worth of everything, in miniature: devices in every state, shares
    issued and refused, a checkpoint anchored k deep and one waiting for the next window."""
    dta = born(spare_dtas.pop(), regtest_node, http_oidc_provider.issuer)
    service, audience = dta.service, dta.ctx.settings.audience
    kids = []
    for board in ("esp32-devkitc", "esp32-s3", "esp32-c3", "unix"):
        kid, frame = signed_hello(board=board)
        assert service.learn_hello(kid, frame) == "registered"
        kids.append(kid)
    service.enroll(kids[0])
    service.revoke(kids[1], "compromised")
    service.registry.count_rejection("bad-signature")  # as the gateway counts a forged hello
    token = app_token(http_metadata, audience)
    forge = Forge(http_oidc_provider)
    for epoch in (1, 2):
        assert httpx.post(dta.url + "shares", json={"epoch": epoch},
                          headers={"Authorization": f"Bearer {token}"}).status_code == 200
    expired = forge.sign(forge.claims(aud=audience, iat=1, exp=2))
    for bad in ("not-a-jwt", expired):
        assert httpx.post(dta.url + "shares", json={"epoch": 9},
                          headers={"Authorization": f"Bearer {bad}"}).status_code == 401
    service.anchor_round()
    regtest_node.mine(K)
    assert service.anchor_round()["anchors"][1]["state"] == FINAL
    assert httpx.post(dta.url + "shares", json={"epoch": 3},
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    yield dta, kids
    dta.close()


def test_the_status_page_shows_the_dta_as_its_stores_and_the_node_have_it(busy_dta, tmp_path,
                                                                           regtest_node):
    dta, kids = busy_dta
    page = Sections()
    page.feed(page_dom(dta.url + "status", tmp_path / "profile"))
    text = {name: page.words(name) for name in page.text}
    facts = dta.service.facts
    assert facts.name in text["identity"] and facts.dta_id.hex() in text["identity"]
    rows = dta.service.anchorer.store.all()
    birth, anchored = rows[0], rows[1]
    confirmations = regtest_node.node.height() - birth.height + 1
    assert f"final, block {birth.height}, {confirmations} confirmations" in text["birth"]
    assert birth.txid in text["birth"]
    chain = text["seal-chain"]
    assert f"checkpoint {anchored.sequence}: {anchored.tree_size:,} entries" in chain
    fees = sum(r.current["fee"] for r in rows)
    assert f"fees spent {fees:,} sat" in chain and f"{anchored.current['fee']:,} sat" in chain
    waiting = [c for c in dta.service.log.store.checkpoints() if c.tree_size > anchored.tree_size]
    assert len(waiting) == 1
    assert f"1 closed checkpoints wait for the next anchor window ({waiting[0].seq})" in chain
    log = dta.service.log.store
    assert f"{log.size:,} entries" in text["checkpoints"]
    for cp in log.checkpoints()[-3:]:
        assert f"{cp.seq} {cp.tree_size:,}" in text["checkpoints"]
    devices = text["devices"]
    assert "pending: 2" in devices and "enrolled: 1" in devices and "revoked: 1" in devices
    assert all(k in devices for k in kids)
    refusals = text["refusals"]
    assert "Shares issued (log): 3; refused (log, ShareRefused): 2" in refusals
    assert "unauthenticated 2" in refusals and "expired 1" in refusals
    assert "unknown-issuer 1" in refusals and "bad-signature 1" in refusals
    series = {p["data-series"]: p["points"].split() for p in page.polylines}
    assert set(series) == {"log entries", "anchoring cost (sat)"}
    assert len(series["log entries"]) >= 2 * len(log.checkpoints()) - 1  # a step per checkpoint


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_a_screenshot_of_the_status_page(busy_dta, tmp_path):
    dta, _ = busy_dta
    out = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "status-page.png")
    page_screenshot(dta.url + "status", tmp_path / "profile", out)
    width, height = png_size(out)
    assert (width, height) == (1100, 1500)
    assert out.stat().st_size > 20_000  # a rendered page, not a blank one
