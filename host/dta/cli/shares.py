"""`dta shares get --from URL1,URL2,URL3`: a share from each D-TA, each checked against the
D-TA's birth-verified identity, combined, and kept sealed (dta.shares_client says what is
checked). A person uses the login `dta login` keeps; an app gives its client credentials."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from dta import exitcodes
from dta.cli.context import codes, emit, fail, json_option, pass_ctx, passphrase, passphrase_option
from dta.cli.login import DEFAULT_CLIENT_ID, tokens_path
from dta.cli.verify import _hex_option, _trust_root
from dta.config import read_secret_file
from dta.errors import USER_ERRORS
from dta.oidc import HttpClient, OAuthError, ProviderUnreachable, TokenStore, discover
from dta.shares_client import (
    AppTokens,
    DtaRefused,
    DtaUnreachable,
    PersonTokens,
    ShareCheckFailed,
    get_shares,
    http_client,
    save_combined,
)

EPILOG = codes(exitcodes.VERIFY_FAILED, exitcodes.PASSPHRASE, exitcodes.UNREACHABLE,
               exitcodes.UNDECIDED, exitcodes.SETUP)


@click.group("shares")
def cli() -> None:
    """Key shares from a federation of D-TAs, combined into a key no single D-TA knows."""


def default_out(cfg, subject: bytes, epoch: int) -> Path:
    name = hashlib.sha256(subject).hexdigest()[:16]
    return cfg.data_dir / "keys" / f"{name}-epoch{epoch}.key"


def _tokens(issuer, client_id, secret_file, tokens_file, cfg, pw: str, http):
    metadata = discover(issuer, http=http)
    if secret_file:
        secret = read_secret_file(secret_file, "--client-secret-file")
        return AppTokens(metadata, client_id=client_id, client_secret=secret, http=http), \
            client_id.encode()
    store = TokenStore(tokens_path(cfg, tokens_file), pw)
    person = PersonTokens(metadata, store, client_id=client_id, http=http)
    return person, person.subject()


def _lines(d: dict) -> list[str]:
    out = [f"combined key of {d['subject']} for epoch {d['epoch']}: public key "
           f"{d['public_key']}"]
    out += [f"  {p['url']}: D-TA {p['dta_id'][:16]}... (birth in block {p['birth_height']}, "
            f"{p['confirmations']} confirmations), share logged as entry #{p['log_index']}, "
            "receipt verified" for p in d["dtas"]]
    out.append(f"kept sealed in {d['out']} (0600)")
    return out


@cli.command("get", epilog=EPILOG)
@click.option("--from", "urls", required=True, metavar="URL1,URL2,...",
              help="The D-TAs' API URLs, comma-separated (at least two).")
@click.option("--epoch", type=click.IntRange(0, 0xFFFFFFFF), default=0, show_default=True)
@click.option("--issuer", required=True, help="The OpenID provider the tokens come from.")
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True,
              help="A person's login client (dta login), or the app's client id.")
@click.option("--client-secret-file", default=None,
              help="An app: the file (0600) holding its client secret (client credentials).")
@click.option("--tokens", "tokens_file", default=None,
              help="A person: where `dta login` keeps the sealed tokens.")
@click.option("--checkpoint-header", default=None, help="A block header you trust (80 bytes "
              "hex), at or before the D-TAs' births.")
@click.option("--checkpoint-height", type=click.IntRange(min=0), default=None)
@click.option("--node", "node_url", default=None,
              help="Check the D-TAs' births against this node (default: chain.rpc_url).")
@click.option("-k", "--confirmations", "k", type=click.IntRange(min=1), default=None,
              help="Confirmations each Birth Record needs (default: the network's).")
@click.option("--dta-ids", default=None, help="The D-TA ids expected at the URLs, in order.")
@click.option("--out", default=None, help="Where to keep the sealed combined key.")
@click.option("--ca-file", default=None, help="CA certificates for D-TAs with their own TLS CA.")
@passphrase_option
@json_option
@pass_ctx
def get_cmd(ctx, urls, epoch, issuer, client_id, client_secret_file, tokens_file,
            checkpoint_header, checkpoint_height, node_url, k, dta_ids, out, ca_file,
            passphrase_file, as_json):
    """Fetch, check and combine the shares; the key is sealed with the passphrase."""
    targets = [u for u in urls.split(",") if u]
    if len(targets) < 2:
        raise click.UsageError("--from needs at least two D-TA URLs: one D-TA alone would know "
                               "the whole key")
    expect = [_hex_option(i, "--dta-ids", 32) for i in dta_ids.split(",")] if dta_ids else None
    if expect is not None and len(expect) != len(targets):
        raise click.UsageError("--dta-ids needs one id per URL in --from")
    header = _hex_option(checkpoint_header, "--checkpoint-header", 80)
    root, _ = _trust_root(ctx, header, checkpoint_height, node_url)
    if not root.usable:
        fail("nothing to check the D-TAs' births against: give --node URL (or chain.rpc_url), "
             "or --checkpoint-header HEX --checkpoint-height N", exitcodes.UNDECIDED)
    pw = passphrase(passphrase_file)
    oidc = HttpClient()
    try:
        tokens, subject = _tokens(issuer, client_id, client_secret_file, tokens_file, ctx.cfg,
                                  pw, oidc)
        with http_client(ca_file) as http:
            key = get_shares(targets, tokens, epoch=epoch, root=root, k=k, subject=subject,
                             expect_ids=expect, http=http)
        path = Path(out) if out else default_out(ctx.cfg, key.subject, epoch)
        save_combined(path, pw, key)
    except ShareCheckFailed as exc:
        fail(exc, exitcodes.VERIFY_FAILED)
    except (DtaUnreachable, DtaRefused, ProviderUnreachable, OAuthError) as exc:
        fail(exc, exitcodes.UNREACHABLE)
    except USER_ERRORS as exc:
        fail(exc)
    finally:
        oidc.close()
    emit(as_json, {"subject": key.subject.decode("ascii"), "epoch": epoch,
                   "public_key": key.public_key.hex(), "out": str(path),
                   "dtas": [{"url": p.url, "dta_id": p.dta_id.hex(),
                             "log_index": p.statement.log_index,
                             "public_share": p.public_share.hex(),
                             "birth_height": p.birth.height,
                             "confirmations": p.birth.confirmations} for p in key.parts]},
         _lines)


__all__ = ["cli", "get_cmd"]
