"""Checkpoint notes (C2SP signed-note / tlog-checkpoint): exact format and strict parsing."""

import base64
import hashlib

import pytest

from dta.signing import Signer as LocalSigner
from dta.signing import verify as verify_digest
from dtacore import note
from dtacore.errors import DecodeError

SIGNER = LocalSigner(hashlib.sha256(b"note test").digest())
ROOT = hashlib.sha256(b"root").digest()
NAME = "example.org/dta/log"


def signed(size=42, root=ROOT):
    return note.sign_checkpoint(NAME, size, root, NAME, SIGNER.public_key, SIGNER.sign_digest)


def test_format_is_exact():
    text = signed()
    body, sigline = text.split("\n\n")
    assert body == NAME + "\n42\n" + base64.b64encode(ROOT).decode()
    assert sigline.startswith("\u2014 " + NAME + " ") and sigline.endswith("\n")
    blob = base64.b64decode(sigline.split(" ")[2])
    kid = hashlib.sha256(NAME.encode() + b"\n\xffdta-secp256k1-sha256"
                         + SIGNER.public_key).digest()[:4]
    assert blob[:4] == kid and len(blob) == 68
    digest = hashlib.sha256((body + "\n").encode()).digest()
    assert verify_digest(SIGNER.public_key, digest, blob[4:])
    cp = note.verify_checkpoint(text, NAME, SIGNER.public_key, verify_digest)
    assert (cp.origin, cp.size, cp.root, cp.text) == (NAME, 42, ROOT, body + "\n")


@pytest.mark.parametrize("mutate", [
    lambda t: t.replace("\n42\n", "\n042\n"),
    lambda t: t.replace("\n42\n", "\n4 2\n"),
    lambda t: t.replace("\n42\n", "\n-1\n"),
    lambda t: t.replace("\n42\n", "\n" + "9" * 20 + "\n"),
    lambda t: t.replace("\n\n", "\nextension line\n\n"),
    lambda t: t.replace("\n\n", "\n"),
    lambda t: t[:-1],
    lambda t: t + "x",
    lambda t: t + "\u2014 bad\n",
    lambda t: t.replace("\u2014 ", "-- "),
    lambda t: t.replace(NAME + " ", NAME + "  "),
    lambda t: t.replace("example.org", "exa\tmple.org", 1),
    lambda t: t.replace(base64.b64encode(ROOT).decode(), base64.b64encode(ROOT[:31]).decode()),
    lambda t: t + "".join("\u2014 w%d AAAA\n" % i for i in range(note.MAX_SIGNATURES)),
    lambda t: t + " " * note.MAX_NOTE_SIZE,
], ids=lambda f: "")
def test_strict_parse(mutate):
    text = mutate(signed())
    with pytest.raises(DecodeError):
        note.parse_checkpoint(text)


def test_signature_errors():
    text = signed()
    other = LocalSigner(hashlib.sha256(b"other").digest())
    with pytest.raises(note.SignatureError):
        note.verify_checkpoint(text, NAME, other.public_key, verify_digest)
    with pytest.raises(note.SignatureError):
        note.verify_checkpoint(text, "other.example/log", SIGNER.public_key, verify_digest)
    # A witness's extra signature line is fine; ours is still found.
    extra = text + note.signature_line("witness.example", other.public_key, bytes(64))
    assert note.verify_checkpoint(extra, NAME, SIGNER.public_key, verify_digest).size == 42
