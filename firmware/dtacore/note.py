# Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), for host
# and device.
#
#   <origin>\n<tree size, decimal>\n<base64 root>\n\n— <key name> <base64(key id[4] || sig[64])>\n
#
# The signed text is everything before the blank line, final newline included. The signature is
# secp256k1 ECDSA (compact r || s, low-S) over SHA-256(text). secp256k1 has no registered
# signed-note type byte, so the key id uses the spec's 0xff escape with a label:
#   key id = SHA-256(key name || 0x0A || 0xff || "dta-secp256k1-sha256" || pubkey33)[:4]

import binascii
import hashlib

from dtacore.errors import DecodeError, VerifyError

SIG_TYPE = b"\xffdta-secp256k1-sha256"
KEY_ID_SIZE = 4
SIG_SIZE = 64
DASH = "\u2014 "
# A checkpoint is three short lines plus a few signature lines: 4 KiB is far above any honest one
# and bounds what a device parses.
MAX_NOTE_SIZE = 4096
# Origins are host/path strings ("example.org/dta/log"); signed-note key names likewise.
MAX_NAME = 128
# C2SP caps notes at 100 signatures; we have one signer and maybe a few witnesses.
MAX_SIGNATURES = 16
# Tree sizes are at most 2^63 - 1: 19 decimal digits.
MAX_SIZE_DIGITS = 19


class SignatureError(VerifyError):
    # The note parses but carries no valid signature by the expected key.
    pass


class Checkpoint:
    def __init__(self, origin, size, root, text, signatures):
        self.origin = origin
        self.size = size
        self.root = root
        self.text = text  # the signed text (str), final newline included
        self.signatures = signatures  # list of (key name, key id bytes, sig bytes)


def key_id(name, pubkey):
    h = hashlib.sha256(name.encode())
    h.update(b"\n")
    h.update(SIG_TYPE)
    h.update(pubkey)
    return h.digest()[:KEY_ID_SIZE]


def _b64(data):
    return binascii.b2a_base64(data).decode().strip()


def _unb64(text, what):
    try:
        data = binascii.a2b_base64(text)
    except ValueError:  # binascii.Error on CPython is a ValueError; MicroPython raises ValueError
        raise DecodeError(what + " is not base64") from None
    if _b64(data) != text:
        raise DecodeError(what + " is not canonical base64")
    return data


def _check_name(name):
    if not name or len(name) > MAX_NAME or " " in name or "+" in name or "\n" in name:
        raise DecodeError("bad origin or key name")


def checkpoint_text(origin, size, root):
    _check_name(origin)
    if len(root) != 32:
        raise DecodeError("root must be 32 bytes")
    return origin + "\n" + str(size) + "\n" + _b64(root) + "\n"


def text_digest(text):
    return hashlib.sha256(text.encode()).digest()


def signature_line(name, pubkey, sig):
    _check_name(name)
    if len(sig) != SIG_SIZE:
        raise DecodeError("signature must be 64 bytes")
    return DASH + name + " " + _b64(key_id(name, pubkey) + sig) + "\n"


def sign_checkpoint(origin, size, root, key_name, pubkey, sign_digest):
    # sign_digest: callable(digest32) -> 64-byte compact signature (the identity key's signer).
    text = checkpoint_text(origin, size, root)
    return text + "\n" + signature_line(key_name, pubkey, sign_digest(text_digest(text)))


def _parse_size(line):
    if not line or len(line) > MAX_SIZE_DIGITS or (len(line) > 1 and line[0] == "0"):
        raise DecodeError("bad tree size line")
    for ch in line:
        if ch < "0" or ch > "9":
            raise DecodeError("bad tree size line")
    return int(line)


def _parse_sig_line(line):
    if not line.startswith(DASH):
        raise DecodeError("bad signature line")
    parts = line[len(DASH):].split(" ")
    if len(parts) != 2:
        raise DecodeError("bad signature line")
    _check_name(parts[0])
    blob = _unb64(parts[1], "signature")
    if len(blob) != KEY_ID_SIZE + SIG_SIZE:
        raise DecodeError("signature has the wrong length")
    return parts[0], blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:]


def parse_checkpoint(note):
    # Strict parse of a signed checkpoint note (str). Extension lines after the root are refused:
    # this log writes none, and a device should not have to guess their meaning.
    if len(note) > MAX_NOTE_SIZE:
        raise DecodeError("note over MAX_NOTE_SIZE")
    for ch in note:
        if ch < " " and ch != "\n":
            raise DecodeError("control character in note")
        if "\ud800" <= ch <= "\udfff":  # a lone surrogate (CPython only) cannot be UTF-8
            raise DecodeError("lone surrogate in note")
    cut = note.find("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise DecodeError("note has no signature block")
    text = note[:cut + 1]
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise DecodeError("checkpoint must have exactly origin, size and root lines")
    _check_name(lines[0])
    size = _parse_size(lines[1])
    root = _unb64(lines[2], "root")
    if len(root) != 32:
        raise DecodeError("root must be 32 bytes")
    sig_lines = note[cut + 2:-1].split("\n")
    if len(sig_lines) > MAX_SIGNATURES:
        raise DecodeError("too many signatures")
    sigs = [_parse_sig_line(line) for line in sig_lines]
    return Checkpoint(lines[0], size, root, text, sigs)


def verify_checkpoint(note, key_name, pubkey, verify=None):
    # Returns the Checkpoint once a signature by (key_name, pubkey) verifies. verify:
    # callable(pubkey33, digest32, sig64) -> bool; defaults to dtacore.ecdsa.verify.
    if verify is None:
        from dtacore.ecdsa import verify
    cp = parse_checkpoint(note)
    want = key_id(key_name, pubkey)
    for name, kid, sig in cp.signatures:
        if name == key_name and kid == want:
            if not verify(pubkey, text_digest(cp.text), sig):
                raise SignatureError("checkpoint signature does not verify")
            return cp
    raise SignatureError("checkpoint not signed by " + key_name)
