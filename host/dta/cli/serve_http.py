"""`dta authority serve-http`: the D-TA serving people and apps over HTTP (docs/http.md), with
its checkpoint tick and anchoring, until Ctrl-C or SIGTERM. `dta authority run --http` serves
the same API next to MQTT; the options below are shared with it (`http_options`)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from dta import exitcodes
from dta.anchor.rpc import Node
from dta.authority import identity
from dta.cli.context import codes, fail, pass_ctx, passphrase, passphrase_option
from dta.datadir import DataDirLock
from dta.errors import USER_ERRORS
from dta.http import HttpAuthority, HttpSettings, Rate, trusted_issuers

EPILOG = codes(exitcodes.CONFIG, exitcodes.PASSPHRASE, exitcodes.UNREACHABLE, exitcodes.SETUP,
               exitcodes.BUSY)


def http_options(fn):
    """The API's options, for every command that serves it."""
    for option in reversed((
        click.option("--http", "listen", default="127.0.0.1:8080", show_default=True,
                     help="HOST:PORT the API listens on (plain HTTP unless --tls-cert)."),
        click.option("--audience", required=True, help="This D-TA's resource identifier: the "
                     "aud its access tokens carry (RFC 8707), e.g. https://dta-1.example/."),
        click.option("--issuer", "issuers", multiple=True, help="An OpenID issuer to trust "
                     "(repeatable)."),
        click.option("--apps-issuer", default=None, help="The one issuer trusted for apps "
                     "(default: the issuer, when there is one)."),
        click.option("--public-url", default=None, help="The API's URL as clients see it "
                     "(behind a reverse proxy); default: each request's own."),
        click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="PEM certificate chain: serve HTTPS."),
        click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="PEM private key of --tls-cert."),
        click.option("--share-rate", type=click.FloatRange(0.01, 1e6), default=10.0,
                     show_default=True, help="Share requests per minute per subject "
                     "(bursts of as many)."),
    )):
        fn = option(fn)
    return fn


def http_settings(cfg, facts, audience, public_url, share_rate) -> HttpSettings:
    return HttpSettings(audience=audience, public_url=public_url,
                        share_rate=Rate(per_minute=share_rate, burst=max(1, int(share_rate))),
                        k=cfg.chain.k_for(facts.network))


@click.command("serve-http", epilog=EPILOG)
@http_options
@click.option("--node", "node_url", default=None, help="JSON-RPC URL (default: chain.rpc_url).")
@passphrase_option
@pass_ctx
def serve_http_cmd(ctx, listen, audience, issuers, apps_issuer, public_url, tls_cert, tls_key,
                   share_rate, node_url, passphrase_file):
    """Serve the HTTP API (shares for people and apps, proofs, receipts, the status page)."""
    cfg = ctx.cfg
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with DataDirLock(cfg.data_dir, "anchor"):  # it anchors: no second anchorer
            secrets = identity.unlock(cfg.data_dir, passphrase(passphrase_file))
            facts = identity.load_public(cfg.data_dir)
            settings = http_settings(cfg, facts, audience, public_url, share_rate)
            trusted = (trusted_issuers(list(issuers), audience=audience, apps_issuer=apps_issuer)
                       if issuers else None)
            dta = HttpAuthority(cfg, secrets, listen=listen, http=settings, issuers=trusted,
                                node=Node.from_config(cfg, node_url),
                                tls_cert=Path(tls_cert) if tls_cert else None,
                                tls_key=Path(tls_key) if tls_key else None)
            click.echo(f"D-TA '{facts.name}' serving its API on {dta.url} (status page "
                       f"{dta.url}status); Ctrl-C stops it", err=True)
            dta.run(stop)
    except USER_ERRORS as exc:
        fail(exc)


__all__ = ["http_options", "http_settings", "serve_http_cmd"]
