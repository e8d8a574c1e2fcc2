"""`dta authority run` as an operator runs it, on a `dta devnet` (an authenticated mosquitto and
a bcoin regtest node under the data directory): the D-TA anchors its Birth Record by itself
once funded, and a host-side device (dta.issuance.DeviceClient, on the devices' broker account)
checks that birth from the D-TA's trust bundle, runs a full handshake and takes a share, which
it checks against the D-TA's signed public share. SIGTERM stops the service with exit 0."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dta.anchor.store import AnchorStore
from dta.config import update_file
from dta.gateway.registry import Registry
from dta.issuance import DeviceClient, DeviceLink, Provisioning
from dta.services import regtest
from dta.services.devnet import Devnet
from dta.services.mosquitto import AUTHORITY_USER, DEVICE_USER, FleetCredentials
from dtacore import backend, wire
from tests.fixtures.chain import wait_for
from tests.fixtures.fleet import Lines

DTA = str(Path(sys.executable).parent / "dta")
K = 2
EPOCH = 3


def _env(data_dir: Path) -> dict:
    env = dict(os.environ, DTA_DATA_DIR=str(data_dir), DTA_CONFIG="",
               DTA_PASSPHRASE="authority run passphrase", PYTHONUNBUFFERED="1")
    env.pop("DTA_BITCOIN_RPC", None)
    return env


def dta(env, *args) -> str:
    out = subprocess.run([DTA, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


@pytest.fixture
def devnet(tmp_path):
    if not regtest.available():
        pytest.fail("bcoin regtest node not installed: run `make devnet` (make test does)")
    d = tmp_path / "dta"
    yield d
    Devnet(d).down()


def _birth_state(data_dir: Path) -> str | None:
    store = AnchorStore(data_dir / "anchors.sqlite3")
    try:
        row = store.get(0)
        return None if row is None or not row.candidates else row.state
    finally:
        store.close()


def test_authority_run_serves_a_device_and_stops_on_sigterm(devnet):
    env = _env(devnet)
    dta(env, "devnet", "up")
    update_file(devnet / "dta.toml", {"chain": {"confirmations": K},
                                      "issuance": {"anchor_interval": 1}})
    facts = json.loads(dta(env, "authority", "init", "--name", "run-cli", "--json"))
    funded = json.loads(dta(env, "devnet", "fund", "--json"))
    dta(env, "anchor", "fund", "--from-height", str(funded["from_height"]))
    net = Devnet(devnet)
    creds = FleetCredentials(net.root)
    proc = subprocess.Popen(
        [DTA, "authority", "run", "--mqtt-username", AUTHORITY_USER,
         "--mqtt-password-file", str(creds.authority_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = Lines(proc.stderr)
    try:
        lines.until(lambda line: "serving devices on mqtt://" in line, 60)
        node = net.node()
        wait_for(lambda: _birth_state(devnet), 30, "the Birth Record's transaction")
        node.generate_to_script(K, regtest.BURN)
        wait_for(lambda: _birth_state(devnet) == "final", 30, "the birth k deep")
        _device_meets_the_dta(net, creds, bytes.fromhex(facts["dta_id"]), funded, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    rest = lines.rest(10)
    assert code == 0, rest
    assert not [line for line in rest if "Traceback" in line or "error" in line.lower()], rest


def _device_meets_the_dta(net: Devnet, creds: FleetCredentials, dta_id: bytes, funded: dict,
                          env: dict) -> None:
    node = net.node()
    height = funded["from_height"]  # a header from before the birth: the device's checkpoint
    prov = Provisioning((dta_id,), "regtest", K, height,
                        bytes.fromhex(node.header_hex(node.block_hash(height))))
    secret = os.urandom(32)
    kid = wire.key_id(backend.pubkey(secret))
    port = net.state()["broker"]["port"]
    link = DeviceLink("127.0.0.1", port, "dta/v1", kid, username=DEVICE_USER,
                      password=creds.password(creds.device_file)).start()
    try:
        client = DeviceClient(secret, prov, link, timeout=5)
        client.hello()
        registry = net.root.parent / "dta.sqlite3"
        wait_for(lambda: Registry.existing(registry) and Registry.existing(registry).get(
            kid.hex()), 30, "the device registered (pending)")
        dta(env, "devices", "enroll", kid.hex())
        verified = client.trust(dta_id)  # the device's own birth check, from the bundle
        assert verified.birth_height > height
        assert client.connect(dta_id) == "full"
        issued = client.request_share(dta_id, EPOCH)
        assert backend.pubkey(issued.share) == issued.statement.public_share
        assert issued.statement.subject == kid and issued.epoch == EPOCH
        again = client.request_share(dta_id, EPOCH)  # a retry: the same entry, no new one
        assert (again.share, again.log_index) == (issued.share, issued.log_index)
    finally:
        link.stop()
