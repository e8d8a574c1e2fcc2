# Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), for host
# and device.
#
#   <origin>\n<tree size, decimal>\n<base64 root>\n\n— <key name> <base64(key id[4] || sig[64])>\n
#
# The signed text is everything before the blank line, final newline included. The signature is
# secp256k1 ECDSA (compact r || s, low-S) over SHA-256(text). secp256k1 has no registered
# signed-note type byte, so the key id uses the spec's 0xff escape with a label:
#   key id = SHA-256(key name || 0x0A || 0xff || "dta-secp256k1-sha256" || pubkey33)[:4]
#
# The parser copies no more than one line at a time, and checks a line's length before it
# copies it: a device parses in a fragmented 64 KiB heap, where a 4 KiB copy (one long line)
# can fail when the same bytes as short lines parse. Encoders given a value they cannot encode
# raise EncodeError; the parser raises DecodeError.

import binascii
import hashlib

from dtacore import utf8
from dtacore.errors import DecodeError, EncodeError, VerifyError

SIG_TYPE = b"\xffdta-secp256k1-sha256"
KEY_ID_SIZE = 4
SIG_SIZE = 64
PUBKEY_SIZE = 33
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
# Canonical base64 of a 32-byte root and of a 68-byte key id || signature, in characters.
ROOT_B64 = 44
SIG_B64 = 92
# The longest text (origin, size and root lines) and signature line (without its newline)
# that can parse, in characters: anything longer is refused before it is copied.
MAX_TEXT = MAX_NAME + 1 + MAX_SIZE_DIGITS + 1 + ROOT_B64 + 1
MAX_SIG_LINE = len(DASH) + MAX_NAME + 1 + SIG_B64


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


def _utf8(text, what):
    # text as UTF-8 bytes; a lone surrogate (CPython only) has no UTF-8 form.
    if not isinstance(text, str):
        raise EncodeError(what + " must be text")
    try:
        return text.encode()
    except UnicodeError:
        raise EncodeError(what + " holds a lone surrogate") from None


def key_id(name, pubkey):
    h = hashlib.sha256(_utf8(name, "key name"))
    h.update(b"\n")
    h.update(SIG_TYPE)
    h.update(_key_bytes(pubkey))
    return h.digest()[:KEY_ID_SIZE]


def _key_bytes(pubkey):
    if not isinstance(pubkey, (bytes, bytearray)) or len(pubkey) != PUBKEY_SIZE:
        raise EncodeError("public key must be 33 bytes")
    return pubkey


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


def _bad_byte(raw):
    # The first reason raw (the text's UTF-8 bytes) cannot be in a note: a control character
    # other than a newline, or bytes that are not strict UTF-8 (MicroPython strings can hold
    # overlong forms and surrogates, dtacore.utf8). None when there is none. Iterating bytes
    # allocates nothing.
    cont = lo = hi = 0
    for c in raw:
        if cont:
            if c < lo or c > hi:
                return "note is not UTF-8 (a surrogate or an overlong form)"
            cont, lo, hi = cont - 1, 0x80, 0xBF
        elif c >= 0x80:
            rest = utf8.lead(c)
            if rest is None:
                return "note is not UTF-8 (a surrogate or an overlong form)"
            cont, lo, hi = rest
        elif c < 0x20 and c != 0x0A:
            return "control character in note"
    return None


def _raw(text):
    # The UTF-8 bytes of text without a copy where the interpreter allows it (MicroPython's
    # str has the buffer protocol); CPython encodes, and refuses lone surrogates.
    try:
        return memoryview(text)
    except TypeError:
        pass
    try:
        return text.encode()
    except UnicodeError:
        raise DecodeError("lone surrogate in note") from None


def _name_ok(name):
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME and " " not in name
            and "+" not in name and "\n" not in name)


def _check_name(name):
    if not _name_ok(name):
        raise DecodeError("bad origin or key name")


def _check_name_to_encode(name, what):
    # What the parser would refuse in a name, refused before it is written.
    if not _name_ok(name) or _bad_byte(_utf8(name, what)) is not None:
        raise EncodeError(what + " must be 1..%d characters without spaces, '+', control "
                          "characters or lone surrogates" % MAX_NAME)


def checkpoint_text(origin, size, root):
    _check_name_to_encode(origin, "origin")
    if type(size) is not int or not 0 <= size < 10 ** MAX_SIZE_DIGITS:
        raise EncodeError("tree size must be an integer of at most %d digits" % MAX_SIZE_DIGITS)
    if not isinstance(root, (bytes, bytearray)) or len(root) != 32:
        raise EncodeError("root must be 32 bytes")
    return origin + "\n" + str(size) + "\n" + _b64(root) + "\n"


def text_digest(text):
    return hashlib.sha256(_utf8(text, "checkpoint text")).digest()


def signature_line(name, pubkey, sig):
    _check_name_to_encode(name, "key name")
    if not isinstance(sig, (bytes, bytearray)) or len(sig) != SIG_SIZE:
        raise EncodeError("signature must be 64 bytes")
    return DASH + name + " " + _b64(key_id(name, pubkey) + bytes(sig)) + "\n"


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
    # line: at most MAX_SIG_LINE characters, checked by the caller.
    if not line.startswith(DASH):
        raise DecodeError("bad signature line")
    parts = line[len(DASH):].split(" ")
    if len(parts) != 2:
        raise DecodeError("bad signature line")
    _check_name(parts[0])
    if len(parts[1]) != SIG_B64:
        raise DecodeError("signature has the wrong length")
    blob = _unb64(parts[1], "signature")
    if len(blob) != KEY_ID_SIZE + SIG_SIZE:
        raise DecodeError("signature has the wrong length")
    return parts[0], blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:]


def _parse_text(text):
    # text: the signed part, final newline included, at most MAX_TEXT characters.
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise DecodeError("checkpoint must have exactly origin, size and root lines")
    _check_name(lines[0])
    size = _parse_size(lines[1])
    if len(lines[2]) != ROOT_B64:
        raise DecodeError("root must be 32 bytes")
    root = _unb64(lines[2], "root")
    if len(root) != 32:
        raise DecodeError("root must be 32 bytes")
    return lines[0], size, root


def _parse_signatures(note, pos, end):
    # The signature lines in note[pos:end], end just after the note's final newline.
    sigs = []
    while True:
        nl = note.find("\n", pos)
        if nl - pos > MAX_SIG_LINE:
            raise DecodeError("signature line longer than MAX_SIG_LINE")
        if len(sigs) == MAX_SIGNATURES:
            raise DecodeError("too many signatures")
        sigs.append(_parse_sig_line(note[pos:nl]))
        pos = nl + 1
        if pos >= end:
            return sigs


def parse_checkpoint(note):
    # Strict parse of a signed checkpoint note (str). Extension lines after the root are refused:
    # this log writes none, and a device should not have to guess their meaning.
    if not isinstance(note, str):
        raise DecodeError("a checkpoint note is text")
    n = len(note)
    if n > MAX_NOTE_SIZE:
        raise DecodeError("note over MAX_NOTE_SIZE")
    bad = _bad_byte(_raw(note))
    if bad is not None:
        raise DecodeError(bad)
    cut = note.find("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise DecodeError("note has no signature block")
    if cut + 1 > MAX_TEXT:
        raise DecodeError("checkpoint text longer than MAX_TEXT")
    text = note[:cut + 1]
    origin, size, root = _parse_text(text)
    if cut + 2 >= n:
        raise DecodeError("bad signature line")
    return Checkpoint(origin, size, root, text, _parse_signatures(note, cut + 2, n))


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
