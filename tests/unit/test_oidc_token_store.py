"""The token store: sealed at rest, 0600, atomic, and refusing a wrong passphrase."""

import os
import stat
import time

import pytest

from dta.oidc import TokenSet, TokenStore, TokenStoreError

ISSUER = "https://idp.example.test"


def tokens(client_id="dta-cli", access="eyJ.access.token", refresh="refresh-secret"):
    return TokenSet(issuer=ISSUER, client_id=client_id, access_token=access,
                    token_type="Bearer", expires_at=time.time() + 600, refresh_token=refresh,
                    id_token="eyJ.id.token", scope="openid offline_access")


def test_round_trip(tmp_path):
    store = TokenStore(tmp_path / "tokens.sealed", "correct horse")
    saved = tokens()
    store.save(saved)
    store.save(tokens(client_id="other"))
    again = TokenStore(tmp_path / "tokens.sealed", "correct horse")
    assert again.load(ISSUER, "dta-cli") == saved
    assert sorted(t.client_id for t in again.all()) == ["dta-cli", "other"]
    assert again.load(ISSUER, "missing") is None
    assert again.delete(ISSUER, "other") and not again.delete(ISSUER, "other")
    assert [t.client_id for t in again.all()] == ["dta-cli"]


def test_file_is_0600_sealed_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "dir" / "tokens.sealed"
    TokenStore(path, "correct horse").save(tokens())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    blob = path.read_bytes()
    assert blob[:4] == b"DTAK"
    assert b"refresh-secret" not in blob and b"access" not in blob
    assert sorted(p.name for p in path.parent.iterdir()) == ["tokens.sealed",
                                                            "tokens.sealed.lock"]


def test_wrong_passphrase_reads_nothing_and_changes_nothing(tmp_path):
    path = tmp_path / "tokens.sealed"
    TokenStore(path, "correct horse").save(tokens())
    before = path.read_bytes()
    wrong = TokenStore(path, "battery staple")
    with pytest.raises(TokenStoreError, match="wrong passphrase"):
        wrong.load(ISSUER, "dta-cli")
    with pytest.raises(TokenStoreError, match="wrong passphrase"):
        wrong.save(tokens(client_id="intruder"))
    assert path.read_bytes() == before


def test_modified_file_is_refused(tmp_path):
    path = tmp_path / "tokens.sealed"
    TokenStore(path, "correct horse").save(tokens())
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(TokenStoreError):
        TokenStore(path, "correct horse").load(ISSUER, "dta-cli")


def test_not_a_store_is_refused(tmp_path):
    path = tmp_path / "tokens.sealed"
    path.write_bytes(b"{}")
    with pytest.raises(TokenStoreError, match="not a token store"):
        TokenStore(path, "correct horse").all()


def test_repr_never_shows_tokens():
    shown = repr(tokens())
    assert "refresh-secret" not in shown and "eyJ" not in shown
