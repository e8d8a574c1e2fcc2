"""A private OpenID provider (npm oidc-provider under devnet/, devnet/oidc/server.mjs) for tests.

It listens on a free loopback port with issuer ``http://127.0.0.1:PORT``, is ready when its
discovery document answers with that issuer, and is stopped by PID. Clients, users and resource
servers (D-TA audiences) are given by the caller; signing keys are ES256 keys the provider makes
with `jose` and keeps in ``<workdir>/state/keys.json``. The test hooks (JWKS request counts, key
rotation, armed device-flow errors) need the random admin token this object holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from dta.errors import ServiceError
from dta.services.mosquitto import free_port
from dta.services.paths import DEVNET_DIR
from dta.services.process import ChildService

READY_TIMEOUT = 30.0
SERVER_SCRIPT = DEVNET_DIR / "oidc" / "server.mjs"
PROVIDER_PACKAGE = DEVNET_DIR / "node_modules" / "oidc-provider" / "package.json"
# Token lifetimes (seconds) unless the caller gives others: long enough for any test run.
DEFAULT_TTL = {"AccessToken": 600, "ClientCredentials": 600, "IdToken": 600,
               "DeviceCode": 600, "AuthorizationCode": 60, "Interaction": 600,
               "Session": 3600, "Grant": 3600, "RefreshToken": 3600}


def available() -> bool:
    return PROVIDER_PACKAGE.exists() and shutil.which("node") is not None


class OidcProvider(ChildService):
    """``with OidcProvider(tmpdir, clients=..., users=..., resources=...) as op:`` ...
    ``op.issuer`` is the issuer URL; ``op.stats()``, ``op.rotate()`` drive the test hooks."""

    def __init__(self, workdir: Path, *, clients: list[dict], users: dict[str, dict],
                 resources: dict[str, dict], ttl: dict[str, int] | None = None,
                 port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.admin_token = os.urandom(16).hex()
        self.config = {"issuer": self.issuer, "port": self.port, "clients": clients,
                       "users": users, "resources": resources,
                       "ttl": {**DEFAULT_TTL, **(ttl or {})},
                       "state_dir": str(self.workdir / "state"),
                       "admin_token": self.admin_token, "cookie_key": os.urandom(32).hex()}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "oidc-provider.log"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, config_path: Path) -> list[str]:
        node = shutil.which("node")
        if not node or not PROVIDER_PACKAGE.exists():
            raise ServiceError("the OpenID provider is not installed (Node.js and `make devnet`)")
        return [node, str(SERVER_SCRIPT), str(config_path)]

    def start(self, timeout: float = READY_TIMEOUT) -> "OidcProvider":
        (self.workdir / "state").mkdir(parents=True, exist_ok=True, mode=0o700)
        config_path = self.workdir / "config.json"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.config, fh)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(config_path), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=str(self.workdir))
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        url = self.issuer + "/.well-known/openid-configuration"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServiceError(f"oidc-provider exited with {self.proc.returncode}: "
                                   f"{self._tail()}")
            try:
                if httpx.get(url, timeout=2.0).json().get("issuer") == self.issuer:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(f"oidc-provider did not answer within {timeout}s: "
                                   f"{self._tail()}")
            time.sleep(0.05)  # poll interval while the port opens

    def _hook(self, method: str, route: str, body: dict | None = None) -> dict:
        response = httpx.request(method, f"{self.issuer}/_dta_test/{route}", json=body,
                                 headers={"Authorization": f"Bearer {self.admin_token}"},
                                 timeout=10.0)
        if response.status_code != 200:
            raise ServiceError(f"oidc-provider test hook {route}: HTTP {response.status_code}")
        return response.json()

    def stats(self) -> dict:
        """Requests the provider served: ``jwks_requests``, ``discovery_requests``; ``kids``."""
        return self._hook("GET", "stats")

    def rotate(self) -> list[str]:
        """Publish a new signing key first (it signs from now on); the old ones stay listed."""
        return self._hook("POST", "rotate")["kids"]

    def retire(self) -> list[str]:
        """Drop every published key but the newest."""
        return self._hook("POST", "retire")["kids"]

    def arm_token_errors(self, errors: list[str]) -> None:
        """The next device-code polls answer these RFC 8628 errors (``slow_down``, ...)."""
        self._hook("POST", "token_errors", {"errors": errors})

    def signing_keys(self) -> list[dict]:
        """The provider's private signing JWKs, newest first (tests sign bad-claim tokens)."""
        return json.loads((self.workdir / "state" / "keys.json").read_text())["keys"]

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-800:]
        except OSError:
            return ""
