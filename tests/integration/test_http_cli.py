"""`dta authority serve-http` as an operator runs it: the real console script, a D-TA made with
`dta authority init`, the API on a free port until SIGTERM."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

DTA = str(Path(sys.executable).parent / "dta")


def test_serve_http_serves_the_api_until_sigterm(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("serve-http passphrase\n")
    pw.chmod(0o600)
    env = {**os.environ, "DTA_DATA_DIR": str(tmp_path / "dta")}
    env.pop("DTA_CONFIG", None)
    env.pop("DTA_PASSPHRASE", None)
    subprocess.run([DTA, "authority", "init", "--name", "cli-dta", "--passphrase-file", str(pw)],
                   env=env, check=True, capture_output=True)
    proc = subprocess.Popen([DTA, "authority", "serve-http", "--http", "127.0.0.1:0",
                             "--audience", "https://cli-dta.test/", "--passphrase-file",
                             str(pw)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "serving its API on http://127.0.0.1:" in line, line
        url = line.split("serving its API on ", 1)[1].split(" ", 1)[0]
        doc = httpx.get(url + ".well-known/dta").json()
        assert doc["name"] == "cli-dta" and doc["audience"] == "https://cli-dta.test/"
        assert doc["issuers"] == [] and doc["birth_anchor"] is None
        assert "D-TA cli-dta" in httpx.get(url + "status").text
        refused = httpx.post(url + "shares", json={"epoch": 1},
                             headers={"Authorization": "Bearer x.y.z"})
        assert refused.status_code == 503  # it trusts no issuer: it says so
        assert refused.json()["type"].endswith("/problems/not-ready")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
