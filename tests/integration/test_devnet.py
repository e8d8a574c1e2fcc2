"""`dta devnet` stands a D-TA's services up by command (authenticated mosquitto, a bcoin regtest
node past segwit, both written into the configuration), `dta status --json` reads a live one,
`dta verify` decides with the configured node or says what it needs, and `dta devnet down`
leaves no process behind."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from dta import exitcodes
from dta.config import update_file
from dta.services import process, regtest
from dta.services.devnet import Devnet
from dta.services.mosquitto import free_port
from dtacore import entries
from tests.fixtures.fleet import Lines

DTA = str(Path(sys.executable).parent / "dta")


def _env(data_dir: Path, **extra) -> dict:
    env = dict(os.environ, DTA_DATA_DIR=str(data_dir), DTA_CONFIG="",
               DTA_PASSPHRASE="devnet passphrase", **extra)
    env.pop("DTA_BITCOIN_RPC", None)
    return env


def dta(env, *args, code=0):
    out = subprocess.run([DTA, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out


def _closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def devnet_dir(tmp_path):
    if not regtest.available():
        pytest.fail("bcoin regtest node not installed: run `make devnet` (make test does)")
    d = tmp_path / "dta"
    yield d
    Devnet(d).down()  # whatever a failed test left running


def test_devnet_up_status_anchor_verify_down(devnet_dir):
    env = _env(devnet_dir)
    up = json.loads(dta(env, "devnet", "up", "--json").stdout)
    assert sorted(up["started"]) == ["broker", "node"] and up["node"]["height"] >= 440
    pids = [up["broker"]["pid"], up["node"]["pid"]]
    ports = [up["broker"]["port"], up["node"]["port"]]
    assert json.loads(dta(env, "devnet", "up", "--json").stdout)["started"] == []
    update_file(devnet_dir / "dta.toml", {"chain": {"confirmations": 1}})
    dta(env, "authority", "init", "--name", "devnet")

    status = json.loads(dta(env, "status", "--json").stdout)
    assert status["authority"]["present"] and status["authority"]["network"] == "regtest"
    assert status["broker"]["reachable"] and status["broker"]["username"] == "dta-gateway"
    assert (status["node"]["reachable"], status["node"]["network"]) == (True, "regtest")
    assert status["node"]["height"] == up["node"]["height"]
    assert status["log"]["tree_size"] == 0 and status["log"]["last_checkpoint"] is None
    assert status["anchors"]["fees_sat"] == 0 and status["problems"] == []
    assert status["registry"]["devices"] == {"pending": 0, "enrolled": 0, "revoked": 0}
    assert status["processes"] == {"gateway": None, "anchor": None}
    doctor = json.loads(dta(env, "doctor", "--json").stdout)["checks"]
    assert not [c for c in doctor if c["status"] == "fail"], doctor

    funded = json.loads(dta(env, "devnet", "fund", "--json").stdout)
    dta(env, "anchor", "fund", "--from-height", str(funded["from_height"]))
    entry = entries.DeviceEnrolled(bytes.fromhex("02" + "11" * 32), b"esp32-s3", 1).encode()
    dta(env, "log", "append", entry.hex())
    dta(env, "log", "checkpoint")
    first = json.loads(dta(env, "anchor", "run", "--once", "--json").stdout)
    assert first["node"] == "ok" and {a["state"] for a in first["anchors"]} == {"unconfirmed"}
    Devnet(devnet_dir).node().generate_to_script(1, regtest.BURN)
    assert "2 final" in dta(env, "anchor", "run", "--once").stdout

    receipt = devnet_dir / "r.json"
    dta(env, "log", "prove", "0", "--out", str(receipt))
    dta(env, "receipt", "upgrade", str(receipt), "--out", str(receipt))
    facts = json.loads(dta(env, "authority", "show", "--json").stdout)
    verdict = dta(env, "verify", str(receipt)).stdout  # the configured node
    assert verdict.startswith("valid: Bitcoin regtest block ") and facts["dta_id"] in verdict
    undecided = dta(dict(env, DTA_BITCOIN_RPC=""), "verify", str(receipt),
                    code=exitcodes.UNDECIDED)
    assert "--node" in undecided.stdout and "--checkpoint-header" in undecided.stdout
    dta(env, "verify", str(receipt), "--node", "http://a:b@127.0.0.1:1/",
        code=exitcodes.UNREACHABLE)
    info = dta(env, "receipt", "info", str(receipt)).stdout
    assert "DeviceEnrolled" in info and facts["dta_id"] in info and "not verified" in info

    status = json.loads(dta(env, "status", "--json").stdout)
    assert status["anchors"]["states"]["final"] == 2 and status["anchors"]["fees_sat"] > 0
    _anchorer_serves_metrics(env, status["anchors"]["fees_sat"])
    assert status["log"]["tree_size"] == 1 and status["log"]["last_checkpoint"]["seq"] == 0

    down = json.loads(dta(env, "devnet", "down", "--json").stdout)
    assert sorted(down["stopped"]) == ["broker", "node"]
    assert not any(process.pid_alive(p) for p in pids) and all(_closed(p) for p in ports)
    after = json.loads(dta(env, "devnet", "status", "--json").stdout)
    assert not after["broker"]["running"] and not after["node"]["running"]
    assert json.loads(dta(env, "status", "--json", code=exitcodes.PARTIAL).stdout)["problems"]

    again = json.loads(dta(env, "devnet", "up", "--json").stdout)  # same ports, same chain
    assert [again["broker"]["port"], again["node"]["port"]] == ports
    assert again["node"]["height"] == status["node"]["height"]
    dta(env, "devnet", "down")


def _anchorer_serves_metrics(env, fees: int) -> None:
    """The long-running anchorer: its lock, its log lines, its Prometheus endpoint."""
    port = free_port()
    proc = subprocess.Popen([DTA, "anchor", "run", "--interval", "0.5", "--metrics-port",
                             str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = Lines(proc.stderr)
    try:
        lines.until(lambda line: "anchorer running" in line)
        dta(env, "anchor", "run", "--once", code=exitcodes.BUSY)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        rest = lines.rest()
        proc.wait(30)
    assert proc.returncode == 0 and rest[-1].endswith("anchorer stopped"), rest
    assert 'dta_anchors{state="final"} 2.0' in text and "dta_node_reachable 1.0" in text
    assert f"dta_anchor_fees_spent_sats_total {float(fees)}" in text  # the figures of status


def test_anchor_run_below_segwit_says_what_is_wrong_and_how_to_fix_it(tmp_path):
    env = _env(tmp_path / "dta")
    dta(env, "authority", "init", "--name", "early")
    with regtest.RegtestNode(tmp_path / "bcoin") as node:  # a fresh chain: height 0
        out = dta(env, "anchor", "run", "--once", "--node", node.url,
                  code=exitcodes.UNREACHABLE)
    assert "segwit is not active" in out.stderr and "mine 432 more blocks" in out.stderr
    assert "dta devnet up" in out.stderr
