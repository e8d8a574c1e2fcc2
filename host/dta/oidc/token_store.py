"""People's tokens at rest: one file, sealed with the passphrase (dta.authority.keystore:
scrypt + ChaCha20-Poly1305), mode 0600, replaced atomically on every change.

The sealed plaintext is JSON: {"version": 1, "tokens": {"<issuer> <client id>": TokenSet}}.
A wrong passphrase, or any change to the file, fails the AEAD tag and nothing is read.
Writers take an flock on ``<file>.lock`` so two logins at once cannot lose each other's tokens.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

from dta.authority import keystore
from dta.oidc.errors import TokenStoreError
from dta.oidc.tokens import TokenSet

FILE_VERSION = 1
# A token set is ~3 KB; a person logged in to a few issuers has a few of them. 1 MiB bounds what
# a damaged or substituted file can make us read and decrypt.
MAX_STORE_BYTES = 1024 * 1024


def _key(issuer: str, client_id: str) -> str:
    return f"{issuer} {client_id}"


class TokenStore:
    def __init__(self, path: Path, passphrase: str):
        self.path = Path(path)
        self._passphrase = passphrase

    def load(self, issuer: str, client_id: str) -> TokenSet | None:
        doc = self._read().get(_key(issuer, client_id))
        return None if doc is None else TokenSet.from_json(doc)

    def all(self) -> list[TokenSet]:
        return [TokenSet.from_json(doc) for doc in self._read().values()]

    def save(self, tokens: TokenSet) -> None:
        with self._locked():
            entries = self._read()
            entries[_key(tokens.issuer, tokens.client_id)] = tokens.to_json()
            self._write(entries)

    def delete(self, issuer: str, client_id: str) -> bool:
        with self._locked():
            entries = self._read()
            found = entries.pop(_key(issuer, client_id), None) is not None
            if found:
                self._write(entries)
            return found

    @contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict:
        try:
            with open(self.path, "rb") as fh:
                blob = fh.read(MAX_STORE_BYTES + 1)
        except FileNotFoundError:
            return {}
        if len(blob) > MAX_STORE_BYTES:
            raise TokenStoreError(f"{self.path} is larger than {MAX_STORE_BYTES} bytes")
        try:
            plain = keystore.unseal(blob, self._passphrase)
        except keystore.WrongPassphrase:
            raise TokenStoreError(f"{self.path}: wrong passphrase (or the file was "
                                  "modified)") from None
        except keystore.AuthorityError as exc:
            raise TokenStoreError(f"{self.path} is not a token store: {exc}") from None
        try:
            doc = json.loads(plain)
        except ValueError:
            raise TokenStoreError(f"{self.path}: sealed content is not JSON") from None
        if not isinstance(doc, dict) or doc.get("version") != FILE_VERSION \
                or not isinstance(doc.get("tokens"), dict):
            raise TokenStoreError(f"{self.path}: unsupported token store version")
        return doc["tokens"]

    def _write(self, entries: dict) -> None:
        plain = json.dumps({"version": FILE_VERSION, "tokens": entries}).encode("utf-8")
        try:
            keystore.write_private(self.path, keystore.seal(plain, self._passphrase))
        except keystore.AuthorityError as exc:
            raise TokenStoreError(f"{self.path}: {exc}") from None
