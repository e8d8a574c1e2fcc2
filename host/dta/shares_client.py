"""`dta shares get`: shares from several D-TAs over HTTP, each checked against the D-TA's own
verified identity, combined into one key that no single D-TA knows.

For each D-TA URL, trusting nothing it says:

1. ``/.well-known/dta`` (strictly parsed): its id, its identity key, its audience (the resource
   the access token must name);
2. its identity: the birth receipt (``/birth``, Birth Record revealed) checked by
   dta.verify.verify_birth, i.e. dtacore's SPV code: the record hashes to the id, the identity
   key spends the Birth Record transaction whose OP_RETURN is that id, the transaction is in a
   block on a header chain from the caller's trust root (a trusted header, or a node's best
   chain), with at least k confirmations;
3. ``POST /shares`` with the access token for that D-TA: the share, its signed public-share
   statement and its receipt; the share is checked against the statement and the *verified*
   key (dtacore.shares.check_share), and the receipt shows the statement's ShareIssued entry in a
   checkpoint that key signed (dtacore.receipt_bytes.check_share_entry).

Then: the D-TAs must be distinct (a D-TA answering at two URLs would otherwise know the whole
key), all statements must name the same subject and epoch, and dtacore.shares.combine adds the
shares and the public shares and checks one is the other's key. The combined key is kept
sealed (dta.authority.keystore: 0600, atomic) with the receipts that prove its issuance.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from dta import receipt as receipts
from dta import strictjson
from dta.authority import keystore
from dta.errors import DtaError
from dta.oidc.text import printable
from dta.verify import BirthVerified, LinkError, TrustRoot, verify_birth
from dtacore import receipt_bytes, shares
from dtacore.errors import ProtocolError

# A D-TA that has not answered in 15 s is down for our purposes.
TIMEOUT = 15.0
# The largest honest answer is a seal chain or birth receipt with thousands of headers
# (dta.receipt.MAX_RECEIPT); a share answer is ~3 KB.
MAX_ANSWER = receipts.MAX_RECEIPT
# A problem document's detail is our words, at most a few hundred characters.
MAX_DETAIL = 300
COMBINED_FORMAT = "dta-combined-key/1"
SHARE_FORMAT = "dta-share/1"
WELL_KNOWN_FORMAT = "dta-wellknown/1"


class SharesError(DtaError):
    """Getting or checking a share from a D-TA failed."""


class DtaUnreachable(SharesError):
    """The D-TA did not answer (connection, timeout, HTTP 5xx without a problem document)."""


class DtaAnswerInvalid(SharesError):
    """The D-TA answered something that is not what the API defines."""


class DtaRefused(SharesError):
    """The D-TA answered with a problem document (RFC 9457): ``slug`` is its type's last
    segment, ``reason`` the token refusal reason when there is one."""

    def __init__(self, url: str, status: int, slug: str, detail: str, reason: str | None):
        super().__init__(f"{url} refused ({status} {slug}"
                         + (f", {reason}" if reason else "") + f"): {detail}")
        self.status, self.slug, self.detail, self.reason = status, slug, detail, reason


class ShareCheckFailed(SharesError):
    """A D-TA's identity, share or receipt did not check: ``what`` names the check."""

    def __init__(self, url: str, what: str, reason: str):
        super().__init__(f"{url}: {what}: {reason}")
        self.url, self.what, self.reason = url, what, reason


@dataclass(frozen=True)
class DtaInfo:
    url: str
    dta_id: bytes
    name: str
    network: str
    identity_pubkey: bytes
    audience: str
    issuers: tuple[str, ...]


@dataclass(frozen=True)
class CheckedShare:
    url: str
    dta_id: bytes
    share: bytes = field(repr=False)
    statement: shares.PublicShare
    receipt: receipts.Receipt = field(repr=False)
    birth: BirthVerified = field(repr=False)

    @property
    def public_share(self) -> bytes:
        return self.statement.public_share


@dataclass(frozen=True)
class CombinedKey:
    subject: bytes
    epoch: int
    secret: bytes = field(repr=False)
    public_key: bytes
    parts: tuple[CheckedShare, ...]


def _problem(url: str, response: httpx.Response, body: bytes) -> DtaRefused | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        doc = strictjson.loads(body, what="problem document", max_bytes=64 * 1024)
    except ProtocolError:
        return None
    if not isinstance(doc, dict):
        return None
    slug = str(doc.get("type", "about:blank")).rstrip("/").rsplit("/", 1)[-1]
    reason = doc.get("reason") if isinstance(doc.get("reason"), str) else None
    return DtaRefused(url, response.status_code, printable(slug, 64),
                      printable(doc.get("detail") if isinstance(doc.get("detail"), str)
                                else "(no detail)", MAX_DETAIL), printable(reason, 64)
                      if reason else None)


def http_client(ca_file: str | None = None) -> httpx.Client:
    """The client every D-TA request goes through: a timeout, no redirects followed, TLS
    verified against the system's roots or ``ca_file`` (a D-TA with its own CA)."""
    verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, verify=verify)


class DtaClient:
    """One D-TA's API: bounded answers, no redirects followed, problems as DtaRefused."""

    def __init__(self, url: str, *, http: httpx.Client):
        self.url = url if url.endswith("/") else url + "/"
        self.http = http

    def _request(self, method: str, path: str, **kw) -> tuple[httpx.Response, bytes]:
        target = self.url + path
        try:
            with self.http.stream(method, target, **kw) as response:
                body, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        raise DtaAnswerInvalid(f"{target}: answer over {MAX_ANSWER} bytes")
                    body.append(chunk)
        except httpx.HTTPError as exc:
            raise DtaUnreachable(f"{target}: no answer ({type(exc).__name__})") from None
        data = b"".join(body)
        if response.status_code >= 400 or 300 <= response.status_code < 400:
            problem = _problem(self.url, response, data)
            if problem is not None:
                raise problem
            kind = DtaUnreachable if response.status_code >= 500 else DtaAnswerInvalid
            raise kind(f"{target}: HTTP {response.status_code}")
        return response, data

    def get_json(self, path: str, what: str, params: dict | None = None):
        _, body = self._request("GET", path, params=params)
        try:
            return strictjson.loads(body, what=f"{what} from {self.url}", max_bytes=MAX_ANSWER)
        except ProtocolError as exc:
            raise DtaAnswerInvalid(str(exc)) from None

    def info(self) -> DtaInfo:
        doc = self.get_json(".well-known/dta", "/.well-known/dta")
        what = f"/.well-known/dta of {self.url}"
        try:
            if strictjson.field(doc, "format", str, what) != WELL_KNOWN_FORMAT:
                raise DtaAnswerInvalid(f"{what} is not {WELL_KNOWN_FORMAT}")
            issuers = strictjson.field(doc, "issuers", list, what)
            return DtaInfo(self.url, strictjson.hex_field(doc, "dta_id", what, 32),
                           strictjson.field(doc, "name", str, what)[:64],
                           strictjson.field(doc, "network", str, what),
                           strictjson.hex_field(doc, "identity_pubkey", what, 33),
                           strictjson.field(doc, "audience", str, what),
                           tuple(i for i in issuers if isinstance(i, str)))
        except ProtocolError as exc:
            raise DtaAnswerInvalid(str(exc)) from None

    def birth(self, checkpoint_height: int | None, k: int) -> receipts.BirthReceipt:
        params = {"k": k} | ({} if checkpoint_height is None
                             else {"checkpoint_height": checkpoint_height})
        return self._receipt("birth", "birth receipt", params)

    def receipt(self, index: int, checkpoint_height: int | None = None) -> receipts.Receipt:
        params = {} if checkpoint_height is None else {"checkpoint_height": checkpoint_height}
        return self._receipt(f"receipts/{index}", f"receipt of entry {index}", params)

    def seal_chain(self, checkpoint_height: int | None = None):
        """The D-TA's seal chain (dta.http.seal_chain.SealChain), parsed strictly."""
        from dta.http import seal_chain
        params = {} if checkpoint_height is None else {"checkpoint_height": checkpoint_height}
        _, body = self._request("GET", "seal-chain", params=params)
        try:
            return seal_chain.parse(body, f"seal chain from {self.url}")
        except ProtocolError as exc:
            raise DtaAnswerInvalid(str(exc)) from None

    def _receipt(self, path: str, what: str, params: dict):
        _, body = self._request("GET", path, params=params)
        try:
            return receipts.parse(body, f"{what} from {self.url}")
        except ProtocolError as exc:
            raise DtaAnswerInvalid(str(exc)) from None

    def request_share(self, token: str, epoch: int) -> dict:
        _, body = self._request("POST", "shares", json={"epoch": epoch},
                                headers={"Authorization": f"Bearer {token}"})
        try:
            return strictjson.loads(body, what=f"share answer from {self.url}",
                                    max_bytes=MAX_ANSWER)
        except ProtocolError as exc:
            raise DtaAnswerInvalid(str(exc)) from None


def audiences_of(urls: list[str], http: httpx.Client | None = None) -> list[str]:
    """Each D-TA's audience, as its /.well-known/dta names it: what a login asks tokens for.
    (Unverified: a wrong one only makes a token the D-TA refuses.)"""
    own = http is None
    http = http or http_client()
    try:
        return [DtaClient(url, http=http).info().audience for url in urls]
    finally:
        if own:
            http.close()


class AppTokens:
    """``token_for`` for an app: a client-credentials token per D-TA audience (RFC 6749 4.4,
    RFC 8707 resource)."""

    def __init__(self, metadata, *, client_id: str, client_secret: str, http=None):
        self.metadata, self.client_id, self._secret, self.http = (metadata, client_id,
                                                                  client_secret, http)

    def __call__(self, info: DtaInfo) -> str:
        from dta.oidc import client_credentials
        return client_credentials(self.metadata, client_id=self.client_id,
                                  client_secret=self._secret, resource=info.audience,
                                  http=self.http).access_token

    def __repr__(self) -> str:
        return f"AppTokens(client_id={self.client_id!r})"


class PersonTokens:
    """``token_for`` for a person: the login's tokens (dta.oidc.TokenStore) refreshed into an
    access token for each D-TA's audience; a rotated refresh token is saved back at once."""

    def __init__(self, metadata, store, *, client_id: str, http=None):
        from dta.oidc import TokenStoreError
        self.metadata, self.store, self.http = metadata, store, http
        self.tokens = store.load(metadata.issuer, client_id)
        if self.tokens is None or self.tokens.refresh_token is None:
            raise TokenStoreError(f"no login for {printable(metadata.issuer)} (client "
                                  f"{printable(client_id)}) with a refresh token: run `dta "
                                  "login --issuer ...` first")

    def subject(self) -> bytes | None:
        """The person the login's ID token named (checked when it was made): issuer + sub."""
        from dta.oidc.verifier import peek
        sub = peek(self.tokens.id_token)[1].get("sub") if self.tokens.id_token else None
        return f"{self.metadata.issuer} {sub}".encode("ascii") if isinstance(sub, str) else None

    def __call__(self, info: DtaInfo) -> str:
        from dta.oidc import refresh
        self.tokens = refresh(self.metadata, self.tokens, resource=info.audience, http=self.http)
        self.store.save(self.tokens)
        return self.tokens.access_token


def verify_identity(client: DtaClient, info: DtaInfo, root: TrustRoot, k: int | None,
                    *, expect_id: bytes | None = None) -> BirthVerified:
    """The D-TA's identity key, as its Birth Record anchored it k deep (never as it says)."""
    if expect_id is not None and info.dta_id != expect_id:
        raise ShareCheckFailed(client.url, "identity", f"the D-TA is {info.dta_id.hex()}, not "
                                                       f"the expected {expect_id.hex()}")
    from dtacore import network
    net = network.by_name(info.network)
    if net is None:
        raise DtaAnswerInvalid(f"{client.url}: unknown network {printable(info.network, 32)}")
    k = k or net.default_k
    rec = client.birth(root.height if root.node is None else None, k)
    try:
        verified = verify_birth(rec, root, k=k, expect_dta_id=info.dta_id)
    except LinkError as exc:
        raise ShareCheckFailed(client.url, f"identity ({exc.link})", exc.reason) from None
    if verified.record is None:
        raise ShareCheckFailed(client.url, "identity", "the birth receipt does not reveal the "
                                                       "Birth Record")
    return verified


def _answer(url: str, doc: dict, what: str):
    try:
        if strictjson.field(doc, "format", str, what) != SHARE_FORMAT:
            raise DtaAnswerInvalid(f"{what} is not {SHARE_FORMAT}")
        share = strictjson.hex_field(doc, "share", what, shares.SHARE_LEN)
        ps = shares.decode_statement(strictjson.hex_field(doc, "statement", what))
        rec = receipts.parse(json.dumps(strictjson.field(doc, "receipt", dict, what)),
                             f"{what}: receipt")
    except ProtocolError as exc:
        raise DtaAnswerInvalid(str(exc)) from None
    if not isinstance(rec, receipts.Receipt):
        raise DtaAnswerInvalid(f"{what}: the receipt is not a log receipt")
    return share, ps, rec


def check_answer(url: str, doc: dict, birth: BirthVerified, subject: bytes | None,
                 epoch: int) -> CheckedShare:
    """A share answer checked against the D-TA's verified identity key."""
    share, ps, rec = _answer(url, doc, f"share answer from {url}")
    if ps.dta_id != birth.dta_id:
        raise ShareCheckFailed(url, "statement", "the statement is for another D-TA id")
    want = ps.subject if subject is None else subject
    try:
        shares.check_share(share, ps, birth.identity_pubkey, want, epoch)
    except ProtocolError as exc:
        raise ShareCheckFailed(url, "share", str(exc)) from None
    try:
        receipt_bytes.check_share_entry(
            receipt_bytes.Receipt(rec.entry, rec.proof, rec.checkpoint, None),
            birth.identity_pubkey, ps.subject, epoch, ps.public_share, ps.log_index)
    except LinkError as exc:
        raise ShareCheckFailed(url, f"receipt ({exc.link})", exc.reason) from None
    return CheckedShare(url, birth.dta_id, share, ps, rec, birth)


def combine(parts: list[CheckedShare]) -> CombinedKey:
    """The combined key of shares from distinct D-TAs, for one subject and epoch."""
    ids = [p.dta_id for p in parts]
    if len(set(ids)) != len(ids):
        raise ShareCheckFailed(", ".join(p.url for p in parts), "federation",
                               "two URLs are the same D-TA: it would know the whole key")
    subjects = {(p.statement.subject, p.statement.epoch) for p in parts}
    if len(subjects) != 1:
        raise ShareCheckFailed(", ".join(p.url for p in parts), "federation",
                               "the D-TAs issued shares for different subjects or epochs")
    try:
        secret, public = shares.combine([p.share for p in parts],
                                        [p.public_share for p in parts])
    except ProtocolError as exc:
        raise ShareCheckFailed(", ".join(p.url for p in parts), "combine", str(exc)) from None
    subject, epoch = subjects.pop()
    return CombinedKey(subject, epoch, secret, public, tuple(parts))


def get_shares(urls: list[str], token_for: Callable[[DtaInfo], str], *, epoch: int,
               root: TrustRoot, k: int | None = None, subject: bytes | None = None,
               expect_ids: list[bytes] | None = None, http: httpx.Client | None = None,
               ) -> CombinedKey:
    """Every D-TA's share, checked, then combined. ``token_for(info)`` gives the access token
    for that D-TA (its ``audience``). ``subject``: the subject the caller expects (None: the
    one the D-TAs' statements agree on)."""
    own = http is None
    http = http or http_client()
    try:
        parts = []
        for i, url in enumerate(urls):
            client = DtaClient(url, http=http)
            info = client.info()
            birth = verify_identity(client, info, root, k,
                                    expect_id=expect_ids[i] if expect_ids else None)
            doc = client.request_share(token_for(info), epoch)
            parts.append(check_answer(client.url, doc, birth, subject, epoch))
        return combine(parts)
    finally:
        if own:
            http.close()


def combined_document(key: CombinedKey) -> dict:
    return {"format": COMBINED_FORMAT, "subject": key.subject.decode("ascii", "replace"),
            "epoch": key.epoch, "secret": key.secret.hex(), "public_key": key.public_key.hex(),
            "dtas": [{"url": p.url, "dta_id": p.dta_id.hex(),
                      "public_share": p.public_share.hex(),
                      "statement": shares.encode_statement(p.statement).hex(),
                      "log_index": p.statement.log_index,
                      "receipt": json.loads(p.receipt.to_json())} for p in key.parts]}


def save_combined(path: Path, passphrase: str, key: CombinedKey) -> None:
    """The combined key and its evidence, sealed (scrypt + ChaCha20-Poly1305), 0600, atomic."""
    plain = json.dumps(combined_document(key), sort_keys=True).encode()
    keystore.write_private(Path(path), keystore.seal(plain, passphrase))


def load_combined(path: Path, passphrase: str) -> dict:
    doc = json.loads(keystore.unseal(Path(path).read_bytes(), passphrase))
    if doc.get("format") != COMBINED_FORMAT:
        raise SharesError(f"{path} is not a {COMBINED_FORMAT} file")
    return doc


__all__ = ["AppTokens", "CheckedShare", "CombinedKey", "DtaAnswerInvalid", "DtaClient",
           "DtaInfo", "DtaRefused", "DtaUnreachable", "PersonTokens", "ShareCheckFailed",
           "SharesError", "audiences_of", "check_answer", "combine", "combined_document",
           "get_shares", "http_client", "load_combined", "save_combined", "verify_identity"]
