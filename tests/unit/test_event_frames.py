"""The EVENT / EVENT_ACK example of docs/channel.md, byte for byte (deterministic RFC 6979
signatures: no extra entropy), both directions, and the checks each side makes on it."""

from dtacore import backend, channel, entries, wire

DEVICE_SECRET, DTA_SECRET = bytes([1]) * 32, bytes([2]) * 32
DTA8 = bytes.fromhex("0123456789abcdef")
EVENT = bytes.fromhex(
    "445401020053f1d12012406b87af00000007800004646f6f72"
    "76092e6af5932e5ef1e43e11ef43fec2205af15c125c291471c8a9c58993f5be"
    "79cc8ad12a57097a8ecd309ff1f2aea44b130bf45fb6c72fde7f054656c3bb4f")
ACK = bytes.fromhex(
    "445401030054f1d12012406b87af000000070123456789abcdef"
    "f8283b984e7adb4073e959074d747cfd3a8c7b32479f8e2a24ee6895ddceb130"
    "0397bcf236a12fe243164ebb8319c39a0153a9bdf5768f52e256c372628bc42c")


def test_the_documented_event_and_ack_bytes():
    key = backend.pubkey(DEVICE_SECRET)
    kid = wire.key_id(key)
    assert kid.hex() == "f1d12012406b87af"
    digest = entries.event_digest(key, 7, 0x80, b"door")
    assert channel.event_frame(kid, 7, 0x80, b"door", backend.sign(DEVICE_SECRET, digest)) == EVENT
    got_kid, counter, kind, payload, sig = channel.decode_event(EVENT)
    assert (got_kid, counter, kind, payload) == (kid, 7, 0x80, b"door")
    entry = entries.DeviceEvent(key, counter, kind, payload, sig, 0)
    assert entry.signature_valid(backend.verify)
    ack_sig = backend.sign(DTA_SECRET, channel.ack_digest(kid, 7))
    assert channel.ack_frame(kid, 7, DTA8, ack_sig) == ACK
    assert channel.decode_ack(ACK) == (kid, 7, DTA8, ack_sig)
    assert backend.verify(backend.pubkey(DTA_SECRET), channel.ack_digest(kid, 7), ack_sig)
    assert not backend.verify(backend.pubkey(DTA_SECRET), channel.ack_digest(kid, 8), ack_sig)
