"""Putting the API on a D-TA: ``api_context`` builds the HttpContext of a running
dta.issuance.service.AuthorityService (its log, issuance core, node and data directory), and
``HttpAuthority`` is a D-TA that serves people and apps over HTTP alone (no broker): the same
service's stores and core, its checkpoint tick and its anchoring rounds, and the API.

`dta authority run --http HOST:PORT` starts an HttpServer on ``create_app(api_context(...))``
beside the service's MQTT link; `dta authority serve-http` runs an HttpAuthority.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from dta.anchor.capabilities import NodeNotReady
from dta.anchor.store import AnchorStore
from dta.http.app import create_app
from dta.http.context import HttpContext, HttpSettings
from dta.http.issuing import SubjectShares
from dta.http.server import HttpServer
from dta.issuance.service import AuthorityService
from dta.issuance.settings import IssuanceSettings
from dta.oidc import TokenVerifier, TrustedIssuers
from dta.oidc.http import HttpClient

log = logging.getLogger("dta.http")


def trusted_issuers(issuers: list[str], *, audience: str, apps_issuer: str | None,
                    http: HttpClient | None = None) -> TrustedIssuers:
    """A verifier per issuer (each discovered now), audience = this D-TA; only ``apps_issuer``
    (default: the only issuer, when there is one) may authenticate apps."""
    if apps_issuer is None and len(issuers) == 1:
        apps_issuer = issuers[0]
    http = http or HttpClient()
    return TrustedIssuers([TokenVerifier.discover(i, http=http, audience=audience,
                                                  accept_apps=(i == apps_issuer))
                           for i in issuers])


def api_context(service: AuthorityService, secrets, settings: HttpSettings,
                issuers: TrustedIssuers | None) -> HttpContext:
    """The API's view of `service` (secrets: its unsealed dta.authority.identity.Secrets)."""
    cfg = service.cfg
    subjects = SubjectShares(service.issuer, master_secret=secrets.master_secret,
                             facts=service.facts)
    return HttpContext(facts=service.facts, birth_record=secrets.record,
                       log_store=service.log.store, anchors=AnchorStore(cfg.anchor_db),
                       settings=settings, node=service.node, registry_path=cfg.registry_db,
                       issuers=issuers, issuer=subjects)


class HttpAuthority:
    """``with HttpAuthority(cfg, secrets, listen=..., http=..., issuers=...) as dta:`` serves
    until closed; ``dta.url`` is the API's URL."""

    def __init__(self, cfg, secrets, *, listen: str, http: HttpSettings,
                 issuers: TrustedIssuers | None, node=None,
                 settings: IssuanceSettings | None = None, tls_cert: Path | None = None,
                 tls_key: Path | None = None):
        self.service = AuthorityService.open(cfg, secrets, node=node, settings=settings)
        try:
            self.ctx = api_context(self.service, secrets, http, issuers)
            self.app = create_app(self.ctx)
            self.server = HttpServer(self.app, listen, tls_cert=tls_cert, tls_key=tls_key)
        except BaseException:
            self.service.close()
            raise
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return self.server.url

    def _anchoring(self) -> None:
        while not self._stop.wait(self.service.settings.anchor_interval):
            try:
                self.service.anchor_round()
            except NodeNotReady as exc:
                log.error("anchoring waits: %s", exc)
            except Exception:
                log.exception("an anchoring round failed; the next one tries again")

    def start(self) -> "HttpAuthority":
        self._stop.clear()
        targets = [lambda: self.service.log.run_checkpoints(self._stop)]
        if self.service.node is not None and self.service.settings.anchor_interval > 0:
            targets.append(self._anchoring)
        for target in targets:
            t = threading.Thread(target=target, daemon=True, name="dta-http-authority")
            t.start()
            self._threads.append(t)
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self._stop.set()
        for t in self._threads:
            t.join()
        self._threads = []

    def close(self) -> None:
        self.stop()
        self.ctx.anchors.close()
        self.service.close()

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.close()

    def __enter__(self) -> "HttpAuthority":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["HttpAuthority", "api_context", "trusted_issuers"]
