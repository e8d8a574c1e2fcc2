"""`dta login --issuer URL`: a person signs in at an OpenID provider (docs/openid.md) and the
tokens are kept sealed at rest for `dta shares get`.

The device authorization grant (RFC 8628) by default: the command prints a code and a URL to
open on any device, then waits; `--code` runs the authorization code flow with PKCE on a
loopback redirect instead (for a machine with a browser). One login covers every D-TA named with
`--dta URL` (each one's audience, read from its /.well-known/dta) or `--resource`: the tokens
are refreshed into an access token per D-TA when shares are fetched.
"""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from dta import exitcodes
from dta.cli.context import codes, emit, fail, json_option, pass_ctx, passphrase, passphrase_option
from dta.errors import USER_ERRORS
from dta.oidc import (
    CodeLogin,
    DeviceLogin,
    HttpClient,
    LoginFailed,
    ProviderUnreachable,
    TokenStore,
    discover,
)
from dta.shares_client import DtaUnreachable, audiences_of

TOKENS_FILE = "oidc-tokens.sealed"
DEFAULT_CLIENT_ID = "dta-cli"
EPILOG = codes(exitcodes.VERIFY_FAILED, exitcodes.PASSPHRASE, exitcodes.UNREACHABLE,
               exitcodes.SETUP)


def tokens_path(cfg, given: str | None) -> Path:
    return Path(given) if given else cfg.data_dir / TOKENS_FILE


def resources_of(dta_urls: tuple[str, ...], resources: tuple[str, ...]) -> list[str]:
    """The audiences to ask for: each D-TA's (from its /.well-known/dta), then those given."""
    found = audiences_of(list(dta_urls)) if dta_urls else []
    return found + [r for r in resources if r not in found]


def _device(metadata, client_id, resources, http):
    login = DeviceLogin(metadata, client_id=client_id, http=http)
    auth = login.start(resources=tuple(resources))
    click.echo(f"To sign in, open {auth.verification_uri} and enter the code {auth.user_code}")
    if auth.verification_uri_complete:
        click.echo(f"  (or open {auth.verification_uri_complete})")
    click.echo(f"Waiting for the sign-in (the code expires in {auth.expires_in} s) ...")
    return login.wait(auth, resource=resources[0] if resources else None)


def _code(metadata, client_id, resources, http, timeout: float, open_browser: bool):
    with CodeLogin(metadata, client_id=client_id, resources=tuple(resources),
                   http=http) as login:
        click.echo(f"To sign in, open {login.authorization_url}")
        if open_browser:
            webbrowser.open(login.authorization_url)
        click.echo(f"Waiting for the browser to come back to {login.redirect.redirect_uri} ...")
        return login.wait(timeout, resource=resources[0] if resources else None)


@click.command("login", epilog=EPILOG)
@click.option("--issuer", required=True, help="The OpenID provider's issuer URL.")
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True,
              help="This CLI's (public) client id at the provider.")
@click.option("--dta", "dta_urls", multiple=True, metavar="URL",
              help="A D-TA this login is for (repeatable, or comma-separated): its audience is "
              "asked for.")
@click.option("--resource", "resources", multiple=True,
              help="A D-TA audience to ask for directly (repeatable).")
@click.option("--code", "code_flow", is_flag=True,
              help="Authorization code flow with PKCE on a loopback redirect (a browser on "
              "this machine) instead of the device code.")
@click.option("--no-browser", is_flag=True, help="With --code: print the URL, do not open it.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=300.0, show_default=True,
              help="With --code: seconds to wait for the browser.")
@click.option("--tokens", "tokens_file", default=None,
              help="Where the sealed tokens are kept (default: <data dir>/oidc-tokens.sealed).")
@passphrase_option
@json_option
@pass_ctx
def login_cmd(ctx, issuer, client_id, dta_urls, resources, code_flow, no_browser, timeout,
              tokens_file, passphrase_file, as_json):
    """Sign in as a person; the tokens are kept encrypted (scrypt + ChaCha20-Poly1305, 0600)."""
    urls = tuple(u for group in dta_urls for u in group.split(",") if u)
    http = HttpClient()
    try:
        metadata = discover(issuer, http=http)
        wanted = resources_of(urls, resources)
        result = (_code(metadata, client_id, wanted, http, timeout, not no_browser) if code_flow
                  else _device(metadata, client_id, wanted, http))
        path = tokens_path(ctx.cfg, tokens_file)
        TokenStore(path, passphrase(passphrase_file)).save(result.tokens)
    except LoginFailed as exc:
        fail(exc, exitcodes.VERIFY_FAILED)
    except (ProviderUnreachable, DtaUnreachable) as exc:
        fail(exc, exitcodes.UNREACHABLE)
    except USER_ERRORS as exc:
        fail(exc)
    finally:
        http.close()
    emit(as_json, {"subject": result.subject.name, "issuer": metadata.issuer,
                   "client_id": client_id, "resources": wanted, "tokens": str(path)},
         lambda d: f"signed in as {d['subject']}; tokens for {len(d['resources'])} D-TA "
                   f"audiences kept sealed in {d['tokens']}")


__all__ = ["DEFAULT_CLIENT_ID", "TOKENS_FILE", "login_cmd", "tokens_path"]
