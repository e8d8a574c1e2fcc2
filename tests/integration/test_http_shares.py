"""Apps get shares over HTTP from three live D-TAs with client credentials (the real provider),
each share checked against the D-TA's birth-verified identity key, and combined."""

import json

import httpx
import pytest
from click.testing import CliRunner

from dta import receipt as receipts
from dta.authority import identity
from dta.cli import main
from dta.shares_client import (
    DtaClient,
    ShareCheckFailed,
    check_answer,
    combine,
    get_shares,
    http_client,
    load_combined,
    verify_identity,
)
from dta.verify import TrustRoot, verify_log_receipt
from dtacore import backend, entries, shares
from tests.fixtures.http import PASSPHRASE, K, app_token
from tests.fixtures.oidc import APP_CLIENT


def trust_root(regtest_node, dta) -> TrustRoot:
    """A header the client trusts: the block before this D-TA's birth, read from the node."""
    birth = dta.service.anchorer.store.get(0)
    height = birth.height - 1
    node = regtest_node.node
    return TrustRoot(bytes.fromhex(node.header_hex(node.block_hash(height))), height)


def earliest_root(regtest_node, http_federation) -> TrustRoot:
    height = min(d.service.anchorer.store.get(0).height for d in http_federation) - 1
    node = regtest_node.node
    return TrustRoot(bytes.fromhex(node.header_hex(node.block_hash(height))), height)


def test_an_app_gets_three_shares_and_the_combined_key_checks_out(http_federation, regtest_node,
                                                                   http_metadata):
    urls = [d.url for d in http_federation]
    key = get_shares(urls, lambda info: app_token(http_metadata, info.audience), epoch=7,
                     root=earliest_root(regtest_node, http_federation), k=K,
                     subject=APP_CLIENT["client_id"].encode())
    assert key.subject == APP_CLIENT["client_id"].encode() and key.epoch == 7
    assert len({p.dta_id for p in key.parts}) == 3
    assert backend.pubkey(key.secret) == key.public_key
    assert key.public_key == backend.point_sum([p.public_share for p in key.parts])
    # Each part is the share that D-TA's master secret derives (what only it can compute).
    for part, dta in zip(key.parts, http_federation, strict=True):
        master = identity.unlock(dta.service.cfg.data_dir, PASSPHRASE).master_secret
        assert shares.derive(master, key.subject, 7) == part.share
        # ... and its ShareIssued entry is in the D-TA's log, durable, at the statement's index.
        entry = entries.decode(dta.service.log.store.entry(part.statement.log_index))
        assert isinstance(entry, entries.ShareIssued)
        assert (entry.subject, entry.epoch, entry.public_share) == (
            key.subject, 7, part.public_share)


def test_asking_again_gives_the_same_share_at_the_same_log_index(http_federation, regtest_node,
                                                                  http_metadata):
    dta = http_federation[0]
    token = app_token(http_metadata, dta.ctx.settings.audience)
    first, second = (httpx.post(dta.url + "shares", json={"epoch": 11},
                                headers={"Authorization": "Bearer " + token}).json()
                     for _ in range(2))
    assert first["share"] == second["share"] and first["log_index"] == second["log_index"]
    assert first["new_entry"] is True and second["new_entry"] is False


def test_the_receipt_in_the_answer_verifies_against_the_dtas_key(http_federation, http_metadata):
    dta = http_federation[1]
    doc = httpx.post(dta.url + "shares", json={"epoch": 12}, headers={
        "Authorization": "Bearer " + app_token(http_metadata, dta.ctx.settings.audience)}).json()
    rec = receipts.parse(json.dumps(doc["receipt"]))
    entry, proof, _ = verify_log_receipt(rec, dta.service.facts.identity_pubkey)
    assert proof.index == doc["log_index"] and isinstance(entry, entries.ShareIssued)
    assert rec.anchor is not None and rec.anchor.status == "pending"


def test_a_share_checked_against_another_dtas_identity_is_refused(http_federation, regtest_node,
                                                                  http_metadata):
    a, b = http_federation[0], http_federation[1]
    with http_client() as http:
        client_b = DtaClient(b.url, http=http)
        birth_b = verify_identity(client_b, client_b.info(), trust_root(regtest_node, b), K)
        doc = DtaClient(a.url, http=http).request_share(
            app_token(http_metadata, a.ctx.settings.audience), 13)
    with pytest.raises(ShareCheckFailed) as refused:
        check_answer(a.url, doc, birth_b, None, 13)
    assert refused.value.what == "statement"


def test_the_same_dta_at_two_urls_is_refused(http_federation, regtest_node, http_metadata):
    a = http_federation[0]
    with pytest.raises(ShareCheckFailed) as refused:
        get_shares([a.url, a.url], lambda info: app_token(http_metadata, info.audience),
                   epoch=14, root=trust_root(regtest_node, a), k=K)
    assert refused.value.what == "federation"


def test_combine_refuses_shares_for_different_epochs(http_federation, regtest_node, http_metadata):
    parts = []
    with http_client() as http:
        for dta, epoch in zip(http_federation[:2], (15, 16), strict=True):
            client = DtaClient(dta.url, http=http)
            birth = verify_identity(client, client.info(), earliest_root(regtest_node,
                                                                          http_federation), K)
            doc = client.request_share(app_token(http_metadata, dta.ctx.settings.audience),
                                       epoch)
            parts.append(check_answer(dta.url, doc, birth, None, epoch))
    with pytest.raises(ShareCheckFailed) as refused:
        combine(parts)
    assert refused.value.what == "federation"


def test_dta_shares_get_for_an_app_with_its_client_secret_file(tmp_path, http_federation,
                                                                regtest_node,
                                                                http_oidc_provider):
    secret = tmp_path / "secret"
    secret.write_text(APP_CLIENT["client_secret"] + "\n")
    secret.chmod(0o600)
    root = earliest_root(regtest_node, http_federation)
    out = tmp_path / "app.key"
    result = CliRunner().invoke(main, [
        "--data-dir", str(tmp_path), "shares", "get",
        "--from", ",".join(d.url for d in http_federation), "--epoch", "31",
        "--issuer", http_oidc_provider.issuer, "--client-id", APP_CLIENT["client_id"],
        "--client-secret-file", str(secret), "--checkpoint-header", root.header.hex(),
        "--checkpoint-height", str(root.height), "-k", str(K), "--out", str(out), "--json"],
        env={"DTA_PASSPHRASE": "app key passphrase", "DTA_CONFIG": ""}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["subject"] == APP_CLIENT["client_id"] and len(got["dtas"]) == 3
    assert out.stat().st_mode & 0o777 == 0o600
    doc = load_combined(out, "app key passphrase")
    assert backend.pubkey(bytes.fromhex(doc["secret"])).hex() == got["public_key"]
    assert [d["log_index"] for d in doc["dtas"]] == [d["log_index"] for d in got["dtas"]]
    # A wrong trusted header: the D-TAs' births do not check, nothing is combined or kept.
    bad = CliRunner().invoke(main, [
        "--data-dir", str(tmp_path), "shares", "get",
        "--from", ",".join(d.url for d in http_federation), "--epoch", "32",
        "--issuer", http_oidc_provider.issuer, "--client-id", APP_CLIENT["client_id"],
        "--client-secret-file", str(secret), "--checkpoint-header", "00" * 80,
        "--checkpoint-height", str(root.height), "-k", str(K), "--out", str(tmp_path / "x")],
        env={"DTA_PASSPHRASE": "app key passphrase", "DTA_CONFIG": ""})
    assert bad.exit_code == 1 and "identity (header chain)" in bad.stderr
    assert not (tmp_path / "x").exists()
