# The shared core's decoders under fuzzing, on whichever interpreter runs this file: the
# MicroPython VM (device) or CPython (tests/fuzz/test_core_fuzz.py imports verdict()).
#
#   micropython -c "import fuzz_core; fuzz_core.main('CORPUS')"
#
# CORPUS is binary: per input, u8 name length | name | u32 BE length | the input's bytes. The
# runner prints one verdict per input, then "done <count>". Files the device reads from flash
# (config.json, board.json) are streamed from the corpus into the file, as flashing writes them,
# and never held whole in memory; other inputs are read whole, as a transport delivers them.
#
# A verdict is "ok <crc32 of the decoded value's canonical form>" or "E <error class>" for a
# typed error (dtacore.errors.ProtocolError); anything else is "X <class>", which the test
# reports as a finding. Modules are imported by the decoder that needs them, so a VM fed one
# decoder's corpus holds only that decoder's code (the test runs one VM per decoder, on the
# .mpy bytecode a device runs).
import gc
import sys
from binascii import crc32

from dtacore.errors import ProtocolError

# Files the config decoders read (the device reads its config from flash): in the cwd.
CONFIG_FILE = "fuzz_config.json"
BOARD_FILE = "fuzz_board.json"
RECORD_MAGIC = b"DTKY"


def _raw(text):
    # The UTF-8 bytes of text, without a copy on MicroPython (its str has the buffer protocol).
    try:
        return memoryview(text)
    except TypeError:
        return text.encode()


def digest(value, crc=0):
    # CRC-32 of the decoded value's canonical form, identical on both interpreters and fed
    # piece by piece (a device heap cannot hold a hex copy of a long value): a type tag, a
    # length, the raw bytes (text as UTF-8), containers in order, dicts by sorted key.
    if value is None or value is True or value is False:
        return crc32(b"N" if value is None else (b"T" if value else b"F"), crc)
    if isinstance(value, int):
        return crc32(("i%d;" % value).encode(), crc)
    if isinstance(value, float):
        return crc32(b"f", crc)  # parsers may round the last digit differently
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        raw = _raw(value) if isinstance(value, str) else value
        tag = "s" if isinstance(value, str) else "b"
        return crc32(raw, crc32(("%s%d;" % (tag, len(raw))).encode(), crc))
    if isinstance(value, (tuple, list)):
        crc = crc32(b"(", crc)
        for v in value:
            crc = crc32(b",", digest(v, crc))
        return crc32(b")", crc)
    if isinstance(value, dict):
        crc = crc32(b"{", crc)
        for k in sorted(value):
            crc = crc32(b",", digest(value[k], crc32(b":", digest(k, crc))))
        return crc32(b"}", crc)
    raise TypeError("no canonical form for " + type(value).__name__)


def _hello(data):
    from dtacore import wire
    h = wire.decode_hello(data)
    return (h.key_id, h.pubkey, h.boot, h.board, h.firmware, h.sig, h.signed)


def _serial(data):
    # Fed in two reads split where the first byte says, then the line goes idle.
    from dtacore import serial_frame
    d = serial_frame.Deframer()
    k = data[0] % (len(data) + 1) if data else 0
    return d.feed(data[:k]) + d.feed(data[k:]) + d.idle()


def _entry(data):
    from dtacore import entries
    e = entries.decode(data)
    return (e.TYPE, e.encode())


def _text(data):
    # A note arrives as UTF-8; CPython keeps surrogates (JSON can carry them) for the parser
    # to refuse, as MicroPython does.
    try:
        return data.decode("utf-8", "surrogatepass")
    except TypeError:  # MicroPython takes no error handler
        return data.decode()


def _note(data):
    from dtacore import note
    cp = note.parse_checkpoint(_text(data))
    return (cp.origin, cp.size, cp.root, cp.text, cp.signatures)


def _inclusion(data):
    from dtacore import merkle
    return tuple(merkle.decode_inclusion(data))


def _consistency(data):
    from dtacore import merkle
    return tuple(merkle.decode_consistency(data))


def _receipt_links(data):
    # u16 len | entry | u16 len | proof | note: the log half of a receipt, as a device that
    # has already checked the note's signature checks it (dtacore.receipt.check_entry).
    from dtacore import receipt
    from dtacore.errors import DecodeError
    if len(data) < 2:
        raise DecodeError("fuzz container truncated")
    n = data[0] << 8 | data[1]
    entry = data[2:2 + n]
    if len(data) < 4 + n:
        raise DecodeError("fuzz container truncated")
    m = data[2 + n] << 8 | data[3 + n]
    proof = data[4 + n:4 + n + m]
    entry_, p, cp = receipt.check_entry(entry, proof, _text(data[4 + n + m:]))
    return (entry_.encode(), tuple(p), cp.size, cp.root)


def _anchor(data):
    from dtacore import anchor
    return tuple(anchor.decode(data))


def _script(data):
    from dtacore import anchor
    return anchor.payload_of(data)


def _tx(data):
    from dtacore import bitcoin
    tx = bitcoin.parse_tx(data)
    return (tx.txid, [tuple(i) for i in tx.inputs], [tuple(o) for o in tx.outputs], tx.witness0)


def _txout_proof(data):
    from dtacore import spv
    return spv.parse_txout_proof(data)


def _headers(data):
    # net code u8 | checkpoint height u32 BE | checkpoint header (80) | headers
    from dtacore import network, spv
    from dtacore.errors import DecodeError
    if len(data) < 85:
        raise DecodeError("fuzz container truncated")
    net = network.by_code(data[0])
    if net is None:
        raise DecodeError("fuzz container: unknown network")
    height = int.from_bytes(data[1:5], "big")
    return spv.verify_chain(data[5:85], data[85:], height, net)


def _der(data):
    from dtacore import der
    return der.sig_from_der(data)


def _birth(data):
    from dtacore import birth
    return tuple(birth.decode(data))


def _record(data):
    from dtanode import records
    return records.decode(RECORD_MAGIC, data)


def _load_config():
    from dtanode import config
    return config.load_config(CONFIG_FILE)


def _load_board():
    from dtanode import config
    return config.load_board(BOARD_FILE)


# decoder -> (the file it reads, the reader)
FILE_DECODERS = {"device_config": (CONFIG_FILE, _load_config), "board": (BOARD_FILE, _load_board)}


DECODERS = {
    "hello": _hello,
    "serial": _serial,
    "entry": _entry,
    "note": _note,
    "inclusion": _inclusion,
    "consistency": _consistency,
    "receipt_links": _receipt_links,
    "anchor": _anchor,
    "script": _script,
    "tx": _tx,
    "txout_proof": _txout_proof,
    "headers": _headers,
    "der": _der,
    "birth": _birth,
    "record": _record,
}


def _verdict(fn, arg):
    try:
        crc = digest(fn(arg) if arg is not None else fn())
    except ProtocolError as e:
        return "E " + type(e).__name__
    except Exception as e:  # noqa: BLE001 (an untyped error is what the fuzz looks for)
        return "X " + type(e).__name__
    return "ok %08x" % (crc & 0xFFFFFFFF)


def verdict(name, data):
    # The verdict on one input (CPython calls this; the VM goes through main).
    if name in FILE_DECODERS:
        path, reader = FILE_DECODERS[name]
        with open(path, "wb") as f:
            f.write(data)
        return _verdict(reader, None)
    return _verdict(DECODERS[name], data)


def _copy(src, path, n):
    buf = bytearray(256)
    mv = memoryview(buf)
    with open(path, "wb") as f:
        while n:
            k = src.readinto(mv[:min(n, 256)])
            f.write(mv[:k])
            n -= k


def main(path):
    count = 0
    with open(path, "rb") as src:
        while True:
            gc.collect()
            head = src.read(1)
            if not head:
                break
            name = src.read(head[0]).decode()
            n = int.from_bytes(src.read(4), "big")
            if name in FILE_DECODERS:
                dst, reader = FILE_DECODERS[name]
                _copy(src, dst, n)
                v = _verdict(reader, None)
            else:
                v = _verdict(DECODERS[name], src.read(n))
            sys.stdout.write(v + "\n")
            count += 1
    print("done", count)
