# Vouchers: a D-TA's signed word that a device key belongs to its federation, so that two devices
# can authenticate each other without trusting a self-asserted key (docs/channel.md, 4).
#
#   voucher = dta 8 | expiry u32 (Unix seconds) | sig 64
#   sig     = ECDSA(D-TA identity key, SHA-256(DOMAIN | dta_id 32 | device key 33 | expiry u32))
#   EAD     = device key 33 | voucher 76            (109 bytes: the handshake's EAD_2 / EAD_3)
#
# The receiving device resolves the peer's key id through the EAD: the key must hash to the key
# id the handshake carries, and the voucher must be signed by a D-TA the receiver has verified
# itself (dtacore.trust) and not be expired by the receiver's clock.

import hashlib
import struct

from dtacore.errors import DecodeError, EncodeError, VerifyError

DOMAIN = b"DTA/v1/voucher\x00"
PUBKEY_LEN = 33
VOUCHER_LEN = 8 + 4 + 64
EAD_LEN = PUBKEY_LEN + VOUCHER_LEN


def digest(dta_id, device_key, expiry):
    if len(dta_id) != 32 or len(device_key) != PUBKEY_LEN or not 0 <= expiry <= 0xFFFFFFFF:
        raise EncodeError("D-TA id 32 bytes, device key 33 bytes, expiry 32 bits")
    h = hashlib.sha256(DOMAIN)
    h.update(bytes(dta_id))
    h.update(bytes(device_key))
    h.update(struct.pack(">I", expiry))
    return h.digest()


def issue(signer, dta_id, device_key, expiry):
    # Host: signer is the D-TA's identity key. -> the 76-byte voucher
    sig = signer.sign_digest(digest(dta_id, device_key, expiry))
    return bytes(dta_id[:8]) + struct.pack(">I", expiry) + sig


def ead(device_key, voucher):
    if len(voucher) != VOUCHER_LEN or len(device_key) != PUBKEY_LEN:
        raise EncodeError("a voucher is 76 bytes and the key 33")
    return bytes(device_key) + bytes(voucher)


def check(ead_bytes, key_id, dtas, now):
    # -> the peer's key. dtas(dta8) -> (dta_id, identity key raw or prepared) of a D-TA the
    # device verified, or None. VerifyError for a key that does not match its id, a voucher from
    # an unknown D-TA, a bad signature or an expired voucher.
    from dtacore import backend
    if len(ead_bytes) != EAD_LEN:
        raise DecodeError("a device credential EAD is %d bytes" % EAD_LEN)
    key = bytes(ead_bytes[:PUBKEY_LEN])
    if hashlib.sha256(key).digest()[:8] != bytes(key_id):
        raise VerifyError("the key in the EAD does not hash to the peer's key id")
    dta8 = bytes(ead_bytes[PUBKEY_LEN:PUBKEY_LEN + 8])
    known = dtas(dta8)
    if known is None:
        raise VerifyError("the voucher is from a D-TA this device has not verified")
    expiry = struct.unpack(">I", bytes(ead_bytes[PUBKEY_LEN + 8:PUBKEY_LEN + 12]))[0]
    if expiry < now:
        raise VerifyError("the voucher expired")
    if not backend.verify(known[1], digest(known[0], key, expiry), ead_bytes[PUBKEY_LEN + 12:]):
        raise VerifyError("the voucher is not signed by that D-TA")
    return key
