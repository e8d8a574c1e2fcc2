"""A person, end to end with the real CLI: `dta login` (the device code approved on the
provider's own pages by the test, or the code flow with PKCE through the loopback redirect),
then `dta shares get` from three live D-TAs: the combined key is sealed 0600 and checks out."""

import json
import os
import subprocess
import sys
from pathlib import Path

from dta.oidc import TokenStore
from dta.shares_client import DtaClient, http_client, load_combined
from dtacore import backend
from tests.fixtures.http import K
from tests.fixtures.oidc import USERS

PASSPHRASE = "a person's passphrase"
DTA = str(Path(sys.executable).parent / "dta")  # the console script pip installed


def dta_cli(data_dir, *args, **kw):
    env = {**os.environ, "DTA_PASSPHRASE": PASSPHRASE, "DTA_DATA_DIR": str(data_dir)}
    env.pop("DTA_CONFIG", None)
    return subprocess.Popen([DTA, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def read_until(proc, marker: str) -> list[str]:
    """stdout lines up to the first that contains ``marker`` (the CLI prints, then waits)."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"the CLI ended without printing {marker!r}: {lines} "
                         f"{proc.stderr.read()}")


def finish(proc) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    return out


def trusted_header(regtest_node, federation) -> tuple[str, int]:
    height = min(d.service.anchorer.store.get(0).height for d in federation) - 1
    node = regtest_node.node
    return node.header_hex(node.block_hash(height)), height


def shares_get(data_dir, federation, regtest_node, issuer, epoch) -> dict:
    header, height = trusted_header(regtest_node, federation)
    proc = dta_cli(data_dir, "shares", "get", "--from", ",".join(d.url for d in federation),
                   "--issuer", issuer, "--epoch", str(epoch), "--checkpoint-header", header,
                   "--checkpoint-height", str(height), "-k", str(K), "--json")
    return json.loads(finish(proc))


def test_device_code_login_then_shares_from_three_dtas(tmp_path, http_federation, regtest_node,
                                                       http_oidc_provider, browser):
    proc = dta_cli(tmp_path, "login", "--issuer", http_oidc_provider.issuer,
                   "--dta", ",".join(d.url for d in http_federation))
    lines = read_until(proc, "(or open ")
    assert "enter the code" in lines[0]
    complete = lines[-1].split("(or open ", 1)[1].rstrip(")\n")
    page = browser.sign_in(complete, "alice", USERS["alice"]["password"])  # the person
    assert "Signed in" in page.text
    out = finish(proc)
    subject = f"{http_oidc_provider.issuer} alice"
    assert f"signed in as {subject}" in out
    tokens = tmp_path / "oidc-tokens.sealed"
    assert tokens.stat().st_mode & 0o777 == 0o600
    assert "refresh_token" not in tokens.read_bytes().decode("latin-1")  # sealed
    got = shares_get(tmp_path, http_federation, regtest_node, http_oidc_provider.issuer, 3)
    assert got["subject"] == subject and len(got["dtas"]) == 3
    assert len({d["dta_id"] for d in got["dtas"]}) == 3
    sealed = tmp_path / got["out"]
    assert sealed.stat().st_mode & 0o777 == 0o600
    doc = load_combined(sealed, PASSPHRASE)
    assert backend.pubkey(bytes.fromhex(doc["secret"])).hex() == got["public_key"]
    assert backend.point_sum([bytes.fromhex(d["public_share"]) for d in got["dtas"]]).hex() \
        == got["public_key"]
    # The same person, again: the same combined key (the D-TAs re-derive the same shares).
    again = shares_get(tmp_path, http_federation, regtest_node, http_oidc_provider.issuer, 3)
    assert again["public_key"] == got["public_key"]
    assert [d["log_index"] for d in again["dtas"]] == [d["log_index"] for d in got["dtas"]]


def test_code_flow_login_on_the_loopback_redirect(tmp_path, http_federation, http_oidc_provider,
                                                  browser):
    proc = dta_cli(tmp_path, "login", "--code", "--no-browser", "--issuer",
                   http_oidc_provider.issuer, "--dta", http_federation[0].url)
    url = read_until(proc, "To sign in, open ")[-1].split("open ", 1)[1].strip()
    read_until(proc, "Waiting for the browser")
    page = browser.sign_in(url, "bob", USERS["bob"]["password"])
    assert "Login received" in page.text
    assert f"signed in as {http_oidc_provider.issuer} bob" in finish(proc)
    tokens = TokenStore(tmp_path / "oidc-tokens.sealed", PASSPHRASE).load(
        http_oidc_provider.issuer, "dta-cli")
    # The access token is for the D-TA named with --dta: it gets bob's share there.
    dta = http_federation[0]
    with http_client() as http:
        doc = DtaClient(dta.url, http=http).request_share(tokens.access_token, 5)
    assert doc["subject"] == f"{http_oidc_provider.issuer} bob" and doc["kind"] == "person"
