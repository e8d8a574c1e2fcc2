"""`dta authority run`: serve one D-TA (dta.issuance.AuthorityService): trust bundles,
handshakes and share requests over MQTT, its log's checkpoints and its anchoring, and with
--http the API for people and apps (dta.http) next to it, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import shlex
import signal
import threading
from dataclasses import replace
from pathlib import Path

import click

from dta import exitcodes
from dta.anchor.rpc import Node
from dta.authority import identity
from dta.cli.context import codes, fail, pass_ctx, passphrase, passphrase_option
from dta.datadir import DataDirLock
from dta.errors import USER_ERRORS, ConfigError
from dta.services.mosquitto import AUTHORITY_USER

EPILOG = codes(exitcodes.CONFIG, exitcodes.PASSPHRASE, exitcodes.UNREACHABLE, exitcodes.SETUP,
               exitcodes.BUSY)


def _with_account(cfg, username: str | None, password_file: str | None):
    """cfg with the broker account given on the command line, if any."""
    if password_file and not (username or cfg.mqtt.username):
        raise click.UsageError("--mqtt-password-file needs --mqtt-username (or mqtt.username)")
    if username is None and password_file is None:
        return cfg
    m = replace(cfg.mqtt, username=username if username is not None else cfg.mqtt.username,
                password_file=str(password_file) if password_file else "")
    return replace(cfg, mqtt=m)


def settings_from(cfg):
    """IssuanceSettings from the config's [issuance] section."""
    from dta.issuance.policy import CommandPolicy
    from dta.issuance.settings import IssuanceSettings
    c = cfg.issuance
    policy = None
    if c.policy_command:
        try:
            argv = shlex.split(c.policy_command)
        except ValueError as exc:
            raise ConfigError(f"issuance.policy_command: {exc}") from None
        policy = CommandPolicy(argv, timeout=c.policy_timeout)
    return IssuanceSettings(credential_id=c.credential_id, anchor_interval=c.anchor_interval,
                            shares_per_window=c.shares_per_window,
                            refusals_per_window=c.refusals_per_window, policy=policy)


def _http(service, secrets, cfg, listen, audience, issuers, apps_issuer, public_url,
          tls_cert, tls_key, share_rate):
    from dta.cli.serve_http import http_settings
    from dta.http import HttpServer, api_context, create_app, trusted_issuers
    if not audience:
        raise click.UsageError("--http needs --audience (the aud of this D-TA's access tokens)")
    settings = http_settings(cfg, service.facts, audience, public_url, share_rate)
    trusted = (trusted_issuers(list(issuers), audience=audience, apps_issuer=apps_issuer)
               if issuers else None)
    ctx = api_context(service, secrets, settings, trusted)
    return ctx, HttpServer(create_app(ctx), listen, tls_cert=Path(tls_cert) if tls_cert else None,
                           tls_key=Path(tls_key) if tls_key else None)


@click.command("run", epilog=EPILOG)
@click.option("--node", "node_url", default=None, help="JSON-RPC URL (default: chain.rpc_url).")
@click.option("--http", "listen", default=None, metavar="HOST:PORT",
              help="Also serve the HTTP API for people and apps here (docs/http.md).")
@click.option("--audience", default=None, help="With --http: this D-TA's resource identifier.")
@click.option("--issuer", "issuers", multiple=True, help="With --http: an OpenID issuer to "
              "trust (repeatable).")
@click.option("--apps-issuer", default=None, help="With --http: the issuer trusted for apps.")
@click.option("--public-url", default=None, help="With --http: the API's URL as clients see it.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), default=None)
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), default=None)
@click.option("--share-rate", type=click.FloatRange(0.01, 1e6), default=10.0,
              show_default=True, help="With --http: share requests per minute per subject.")
@click.option("--mqtt-username", default=None, help="The broker account this D-TA connects "
              "with (default: mqtt.username). The fleet ACL gives the D-TA its own account: "
              f"on a `dta devnet`, {AUTHORITY_USER}.")
@click.option("--mqtt-password-file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Its password, first line of a 0600 file (default: "
              "mqtt.password_file; on a `dta devnet`, devnet/mqtt-authority.password).")
@passphrase_option
@pass_ctx
def run_cmd(ctx, node_url, listen, audience, issuers, apps_issuer, public_url, tls_cert,
            tls_key, share_rate, mqtt_username, mqtt_password_file, passphrase_file):
    """Serve this D-TA to its devices over MQTT (and to people and apps with --http): trust
    bundles, handshakes, write-ahead share issuance, its checkpoints and its anchoring.

    The D-TA reads the devices' frames on <prefix>/dta/<its id>/+ and answers on
    <prefix>/dev/+/+: an authenticated broker must let its account do that (the fleet ACL's
    authority account does; the gateway's does not, and the broker then drops every frame
    without a word)."""
    from dta.issuance.service import AuthorityService

    cfg = _with_account(ctx.cfg, mqtt_username, mqtt_password_file)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with DataDirLock(cfg.data_dir, "authority"), DataDirLock(cfg.data_dir, "anchor"):
            secrets = identity.unlock(cfg.data_dir, passphrase(passphrase_file))
            service = AuthorityService.open(cfg, secrets, node=Node.from_config(cfg, node_url),
                                            settings=settings_from(cfg))
            with service:
                _serve(service, secrets, cfg, stop, listen, audience, issuers, apps_issuer,
                       public_url, tls_cert, tls_key, share_rate)
    except USER_ERRORS as exc:
        fail(exc)


def _serve(service, secrets, cfg, stop, listen, *http):
    server = None
    if listen:
        ctx, server = _http(service, secrets, cfg, listen, *http)
    m = cfg.mqtt
    click.echo(f"D-TA '{service.facts.name}' ({service.dta8.hex()}, credential id "
               f"{cfg.issuance.credential_id}) serving devices on mqtt://{m.host}:{m.port}/"
               f"{m.topic_prefix}" + (f" as {m.username}" if m.username else "")
               + (f" and its API on {server.url}" if server else "")
               + "; Ctrl-C stops it", err=True)
    if server:
        server.start()
    try:
        service.run(stop)
    finally:
        if server:
            server.stop()
            ctx.anchors.close()
