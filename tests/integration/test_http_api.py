"""The public half of the API against live D-TAs: /.well-known/dta, checkpoints as signed
notes, proofs that recompute the roots, receipts and the seal chain that `dta verify --from URL`
checks over HTTP; a D-TA restart, JWKS rotation on the provider, and HTTPS with a certificate."""

import datetime
import ipaddress
import json

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dta.cli import main
from dta.http import HttpAuthority, HttpSettings, seal_chain
from dta.issuance.index import INDEX_FILE
from dta.oidc import HttpClient, client_credentials, discover
from dta.shares_client import DtaClient, http_client
from dta.verify import LinkError, TrustRoot, verify_seal_chain
from dtacore import merkle, note
from tests.fixtures.http import K, app_token, born, make_http_provider
from tests.fixtures.oidc import APP_CLIENT


def trusted(regtest_node, height: int) -> tuple[str, int]:
    node = regtest_node.node
    return node.header_hex(node.block_hash(height)), height


def verify_cli(*args) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["verify", *args, "--json"], env={"DTA_CONFIG": ""},
                                catch_exceptions=False)
    docs = [json.loads(part) for part in result.stdout.replace("}\n{", "}\x00{").split("\x00")
            if part.strip()]
    return result.exit_code, docs


@pytest.fixture(scope="module")
def anchored(http_federation, regtest_node, http_metadata):
    """D-TA A with a share logged and the checkpoint covering it anchored, k deep."""
    dta = http_federation[0]
    doc = httpx.post(dta.url + "shares", json={"epoch": 21}, headers={
        "Authorization": "Bearer " + app_token(http_metadata, dta.ctx.settings.audience)}).json()
    dta.service.anchor_round()
    regtest_node.mine(K)
    dta.service.anchor_round()
    return dta, doc["log_index"]


def test_well_known_names_the_dta_its_birth_and_its_api(http_federation, http_oidc_provider):
    dta = http_federation[1]
    doc = httpx.get(dta.url + ".well-known/dta").json()
    facts = dta.service.facts
    assert doc["dta_id"] == facts.dta_id.hex() and doc["name"] == "dta-b"
    assert doc["identity_pubkey"] == facts.identity_pubkey.hex()
    assert doc["network"] == "regtest" and doc["audience"] == "https://dta-b.test/"
    assert doc["issuers"] == [http_oidc_provider.issuer] == [doc["apps_issuer"]]
    birth = dta.service.anchorer.store.get(0)
    assert doc["birth_anchor"]["txid"] == birth.txid
    assert doc["birth_anchor"]["height"] == birth.height and doc["birth_anchor"]["state"] == "final"
    assert doc["birth_anchor"]["confirmations"] >= K
    assert bytes.fromhex(doc["birth_record"]) == dta.ctx.birth_record
    for name, url in doc["endpoints"].items():
        assert url.startswith(dta.url), name


def test_checkpoints_are_signed_notes_and_proofs_recompute_their_roots(anchored):
    dta, index = anchored
    pub = dta.service.facts.identity_pubkey
    text = httpx.get(dta.url + "checkpoint").text
    cp = note.parse_checkpoint(text)
    note.verify_checkpoint(text, cp.origin, pub)
    listed = httpx.get(dta.url + "checkpoints").json()["checkpoints"]
    assert listed[-1]["note"] == text and listed[-1]["tree_size"] == cp.size
    assert httpx.get(dta.url + f"checkpoints/{listed[0]['seq']}").text == listed[0]["note"]
    proof = httpx.get(dta.url + "proofs/inclusion", params={"index": index}).json()
    p = merkle.decode_inclusion(bytes.fromhex(proof["proof"]))
    merkle.verify_inclusion(merkle.hash_leaf(dta.service.log.store.entry(index)), p.path,
                            cp.root, index=index, size=cp.size)
    first = listed[0]
    c = httpx.get(dta.url + "proofs/consistency", params={"size1": first["tree_size"]}).json()
    cons = merkle.decode_consistency(bytes.fromhex(c["proof"]))
    merkle.verify_consistency(bytes.fromhex(first["root"]), cp.root, cons.path,
                              size1=first["tree_size"], size2=cp.size)
    bad = httpx.get(dta.url + "proofs/inclusion", params={"index": "x"})
    assert bad.status_code == 400 and bad.json()["type"].endswith("/bad-request")


def test_dta_verify_from_url_checks_a_receipt_and_the_seal_chain(anchored, regtest_node):
    dta, index = anchored
    birth_height = dta.service.anchorer.store.get(0).height
    header, height = trusted(regtest_node, birth_height - 1)
    code, docs = verify_cli("--from", dta.url, "--entry", str(index), "--seal-chain", "--birth",
                            "--checkpoint-header", header, "--checkpoint-height", str(height),
                            "-k", str(K))
    assert code == 0, docs
    birth, chain, entry = docs
    assert birth["kind"] == "birth" and birth["revealed"] and birth["height"] == birth_height
    assert chain["kind"] == "seal-chain" and chain["birth_height"] == birth_height
    assert chain["anchors"] and chain["anchors"][-1]["confirmations"] >= K
    assert entry["kind"] == "entry" and entry["anchored"] and entry["leaf_index"] == index
    assert entry["dta_id"] == dta.service.facts.dta_id.hex()


def test_dta_verify_from_url_refuses_what_does_not_check(anchored, regtest_node, http_federation):
    dta, index = anchored
    birth_height = dta.service.anchorer.store.get(0).height
    header, height = trusted(regtest_node, birth_height - 1)
    root = ["--checkpoint-header", header, "--checkpoint-height", str(height), "-k", str(K)]
    other = http_federation[2].service.facts.dta_id.hex()
    code, docs = verify_cli("--from", dta.url, "--seal-chain", "--dta-id", other, *root)
    assert code == 1 and docs[0]["valid"] is False and docs[0]["link"] == "payload"
    wrong_header, _ = trusted(regtest_node, birth_height - 2)
    code, docs = verify_cli("--from", dta.url, "--entry", str(index), "--checkpoint-header",
                            wrong_header, "--checkpoint-height", str(height), "-k", str(K))
    assert code == 1 and docs[0]["link"] == "header chain"
    code, docs = verify_cli("--from", dta.url, "--entry", "999999", *root)
    assert code == 1


def test_a_restarted_dta_derives_the_same_share_for_the_same_subject_and_epoch(
        spare_dtas, regtest_node, http_oidc_provider, http_metadata):
    setup = spare_dtas.pop()
    dta = born(setup, regtest_node, http_oidc_provider.issuer)
    token = app_token(http_metadata, setup.audience)

    def share(d, epoch):
        with http_client() as http:
            return DtaClient(d.url, http=http).request_share(token, epoch)

    try:
        before = share(dta, 1)
    finally:
        dta.close()
    # The issuance index is only a cache of the log: moved aside, it is rebuilt on open.
    (setup.data_dir / INDEX_FILE).rename(setup.data_dir / (INDEX_FILE + ".old"))
    dta = setup.serve(regtest_node, http_oidc_provider.issuer)
    try:
        after, fresh = share(dta, 1), share(dta, 2)
    finally:
        dta.close()
    assert after["share"] == before["share"] and after["log_index"] == before["log_index"]
    assert after["new_entry"] is False and fresh["new_entry"] is True
    assert fresh["share"] != before["share"]


def test_jwks_rotation_on_the_provider_is_picked_up(tmp_path, spare_dtas, regtest_node):
    with make_http_provider(tmp_path / "oidc") as provider:
        setup = spare_dtas.pop()
        dta = born(setup, regtest_node, provider.issuer)
        client = HttpClient()
        try:
            metadata = discover(provider.issuer, http=client)

            def share(epoch):
                token = client_credentials(metadata, client_id=APP_CLIENT["client_id"],
                                           client_secret=APP_CLIENT["client_secret"],
                                           resource=setup.audience, http=client).access_token
                return httpx.post(dta.url + "shares", json={"epoch": epoch},
                                  headers={"Authorization": f"Bearer {token}"})

            assert share(1).status_code == 200
            before = provider.stats()["jwks_requests"]
            new_kid = provider.rotate()[0]
            response = share(2)
            assert response.status_code == 200, response.text
            assert provider.stats()["jwks_requests"] == before + 1  # one refresh, for the kid
            assert new_kid in provider.stats()["kids"]
        finally:
            client.close()
            dta.close()


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_https_with_a_certificate(tmp_path, spare_dtas, regtest_node, http_oidc_provider):
    setup = spare_dtas.pop()
    cert, key = self_signed(tmp_path)
    dta = HttpAuthority(setup.cfg, setup.secrets(), listen="127.0.0.1:0",
                        http=HttpSettings(audience=setup.audience, k=K), issuers=None,
                        node=regtest_node.node, tls_cert=cert, tls_key=key).start()
    try:
        assert dta.url.startswith("https://127.0.0.1:")
        with http_client(str(cert)) as http:
            info = DtaClient(dta.url, http=http).info()
        assert info.dta_id == dta.service.facts.dta_id
        with pytest.raises(httpx.ConnectError):  # not trusted without the CA
            httpx.get(dta.url + ".well-known/dta")
    finally:
        dta.close()


def test_a_tampered_seal_chain_is_refused_naming_the_link(anchored, regtest_node):
    dta, _ = anchored
    birth_height = dta.service.anchorer.store.get(0).height
    header, height = trusted(regtest_node, birth_height - 1)
    root = TrustRoot(bytes.fromhex(header), height)
    doc = httpx.get(dta.url + "seal-chain").json()
    assert verify_seal_chain(seal_chain.parse(json.dumps(doc)), root, k=K).anchors

    def flip(hex_text: str, at: int) -> str:
        b = bytearray(bytes.fromhex(hex_text))
        b[at] ^= 1
        return b.hex()

    birth_tx = bytes.fromhex(doc["steps"][0]["tx"])
    cases = {
        "payload": lambda d: d["steps"][0].update(tx=flip(d["steps"][0]["tx"],
                                                          birth_tx.index(b"D-TA") + 8)),
        "transaction in block": lambda d: d["steps"][1].update(
            txout_proof=flip(d["steps"][1]["txout_proof"], 90)),
        "header chain": lambda d: d.update(headers=d["headers"][1:]),
        "seal chain": lambda d: d["steps"].reverse(),
    }
    for link, tamper in cases.items():
        bad = json.loads(json.dumps(doc))
        tamper(bad)
        with pytest.raises(LinkError) as refused:
            verify_seal_chain(seal_chain.parse(json.dumps(bad)), root, k=K)
        assert refused.value.link == link, (link, refused.value)
