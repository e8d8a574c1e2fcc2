"""The demo's D-TAs: each with its own data directory under `<demo>/dtas/dta-N/` (sealed
secrets, Birth Record, log, registry, seal chain, issuance index, tickets), made on the first
run and reopened on every later one, each served by dta.issuance.AuthorityService on the demo's
broker (the fleet ACL's authority account) and its regtest node.

Their secrets are sealed with $DTA_PASSPHRASE when it is set, else with the demo passphrase
(demo data on regtest only); reopening tries $DTA_PASSPHRASE first, then the demo passphrase,
and says which opened them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from dta.anchor.store import FINAL, PENDING, AnchorRow, AnchorStore
from dta.authority import identity
from dta.config import ChainConfig, Config, LogConfig
from dta.demo.chain import K
from dta.errors import AuthorityError, WrongPassphrase
from dta.issuance import AuthorityService, IssuanceSettings

# The demo D-TAs' passphrase when $DTA_PASSPHRASE is not set: demo data only, on regtest.
DEMO_PASSPHRASE = "dta-demo-only"
DEMO_NAME = "the demo passphrase"
ENV_NAME = f"${identity.PASSPHRASE_ENV}"
# Seconds between a D-TA's anchoring rounds, and its anchor window: one anchoring transaction
# (one fee) per window at most, the checkpoints in between linked to it by consistency proofs.
ANCHOR_INTERVAL = 2.0
ANCHOR_WINDOW = 5


@dataclass(frozen=True)
class Services:
    """Where the demo's D-TAs find the broker and the node (dta.services.devnet.Devnet)."""

    broker_port: int
    authority_user: str
    authority_password_file: Path
    rpc_url: str
    rpc_cookie: Path


def passphrases() -> list[tuple[str, str]]:
    """(passphrase, what to call it) in the order they are tried."""
    env = os.environ.get(identity.PASSPHRASE_ENV)
    return ([(env, ENV_NAME)] if env else []) + [(DEMO_PASSPHRASE, DEMO_NAME)]


class DemoAuthority:
    """One of the demo's D-TAs: `index` from 1 (its credential id in the devices' provisioning
    is index - 1)."""

    def __init__(self, index: int, root: Path, base: Config, services: Services):
        self.index = index
        self.name = f"demo-dta-{index}"
        self.data_dir = Path(root) / f"dta-{index}"
        self.cfg = self._config(base, services)
        self.created = False
        self.sealed_with = ""
        self.secrets = None
        self.service: AuthorityService | None = None
        self._reader: AnchorStore | None = None
        self._lock = threading.Lock()

    def _config(self, base: Config, s: Services) -> Config:
        mqtt = replace(base.mqtt, host="127.0.0.1", port=s.broker_port, client_id="",
                       username=s.authority_user, password_file=str(s.authority_password_file))
        chain = ChainConfig(network="regtest", rpc_url=s.rpc_url, rpc_cookie=str(s.rpc_cookie),
                            confirmations=K, anchor_window_seconds=ANCHOR_WINDOW)
        return replace(base, data_dir=self.data_dir, mqtt=mqtt, chain=chain,
                       log=LogConfig(origin=f"{self.name}.demo.dta.local/log"))

    @property
    def label(self) -> str:
        return f"D-TA {self.index}"

    @property
    def facts(self) -> identity.PublicFacts:
        return self.service.facts

    # -- secrets -------------------------------------------------------------------------------

    def open_secrets(self, on_env_refused: Callable[[], None]) -> None:
        """Make the D-TA (first run) or unlock it; `on_env_refused()` when $DTA_PASSPHRASE is
        set and does not open it."""
        if not identity.exists(self.data_dir):
            passphrase, self.sealed_with = passphrases()[0]
            identity.initialise(self.data_dir, passphrase, name=self.name, network="regtest")
            self.created = True
            self.secrets = identity.unlock(self.data_dir, passphrase)
            return
        identity.load_public(self.data_dir)  # a damaged authority.json says so first
        for passphrase, name in passphrases():
            try:
                self.secrets = identity.unlock(self.data_dir, passphrase)
                self.sealed_with = name
                return
            except WrongPassphrase:
                if name == ENV_NAME:
                    on_env_refused()
        raise WrongPassphrase(
            f"neither {ENV_NAME} nor the demo passphrase opens the demo's {self.label} in "
            f"{self.data_dir}: set {identity.PASSPHRASE_ENV} to the passphrase it was made "
            "with, or run the demo with another --data-dir")

    # -- the service ---------------------------------------------------------------------------

    def open_service(self, node) -> AuthorityService:
        if self.secrets is None:
            raise AuthorityError(f"{self.label}: its secrets are not open")
        settings = IssuanceSettings(credential_id=self.index - 1, anchor_interval=ANCHOR_INTERVAL)
        self.service = AuthorityService.open(self.cfg, self.secrets, node=node, settings=settings)
        self._reader = AnchorStore(self.cfg.anchor_db)
        return self.service

    def needs_funding(self) -> bool:
        """No coin recorded yet for the Birth Record's transaction, and none sent."""
        a = self.service.anchorer
        row = a.store.get(0)
        return a.funding is None and (row is None or row.state == PENDING)

    def anchors(self) -> list[AnchorRow]:
        """Its seal chain as stored now (a reader connection of the demo's own)."""
        if self._reader is None:
            return []
        with self._lock:
            return self._reader.all()

    def birth(self) -> AnchorRow | None:
        """The Birth Record's anchor once it is k deep, else None."""
        rows = self.anchors()
        return rows[0] if rows and rows[0].state == FINAL else None

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
