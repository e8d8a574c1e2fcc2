# dtanode: the device agent (MicroPython only; runs on ESP32 boards and on the Unix port).
# Boot sequence: board and config, entropy health, identity, boot counter, signed hello over
# MQTT or a serial line. Each stage imports what it needs and the modules a later stage never
# uses again are unloaded (dtanode.stages), so the transport finds the heap it needs.

import gc
import sys

from dtanode.report import say
from dtanode.stages import unload
from dtanode.version import FIRMWARE_VERSION

EXIT_CONFIG = 2
EXIT_ENTROPY = 3
EXIT_IDENTITY = 4
EXIT_NETWORK = 5

# What only the key stage and the hello's signature use (the handshake loads its own).
KEY_MODULES = ("dtanode.identity", "dtanode.records", "dtacore.ecdsa", "dtacore.fixedbase",
               "dtacore.ecmult", "dtacore.gtable", "dtacore.gtable_comb", "dtacore.hmac",
               "dtacore.secp256k1")


def _configure(board_path, config_path):
    from dtanode import config
    try:
        return config.load_board(board_path), config.load_config(config_path)
    except config.ConfigError as e:
        say("refuse", reason="config", detail=repr(str(e)))
        return None, None
    finally:
        unload("dtanode.config")


def _entropy(board, cfg):
    from dtanode import entropy
    try:
        source = entropy.for_board(board, cfg)
        source.startup()
    except entropy.EntropyError as e:
        # No key is made and nothing is signed from a source that failed its health tests.
        say("refuse", reason="entropy", detail=repr(str(e)))
        return None
    say("entropy", status="ok", source=repr(source.describe))
    return source


def _hello(root, board, source):
    # -> (key id, boot counter, signed hello frame), or None when the identity is unusable.
    from dtacore import ecdsa, wire
    from dtanode import identity
    # The curve tables want a few contiguous KiB: collect before the first key operation.
    gc.collect()
    try:
        secret, pubkey, created = identity.load_or_create(root, source)
        boot = identity.next_boot(root)
    except identity.IdentityError as e:
        say("refuse", reason="identity", detail=repr(str(e)))
        return None
    kid = wire.key_id(pubkey)
    say("identity", key_id=wire._hex(kid), created=created, boot=boot)
    unsigned = wire.hello_unsigned(pubkey, boot, board["name"], FIRMWARE_VERSION)
    # RFC 6979 nonce with 32 fresh, health-tested bytes mixed in as extra data.
    frame = unsigned + ecdsa.sign(secret, wire.hello_digest(unsigned), source.raw(32))
    return kid, boot, frame


def run(board_path="board.json", config_path="config.json"):
    board, cfg = _configure(board_path, config_path)
    if board is None:
        return EXIT_CONFIG
    say("boot", board=board["name"], firmware=FIRMWARE_VERSION)
    source = _entropy(board, cfg)
    if source is None:
        return EXIT_ENTROPY
    hello = _hello(cfg["storage"], board, source)
    unload(*KEY_MODULES)
    if hello is None:
        return EXIT_IDENTITY
    kid, boot, frame = hello
    from dtacore import wire
    from dtanode import transport, wifi
    try:
        link = transport.open_transport(board, cfg, kid)
        say("network", link=repr(link.describe))
        link.send(frame)
    except (OSError, wifi.NetError) as e:
        say("offline", reason=repr(str(e)))
        return EXIT_NETWORK
    say("hello", key_id=wire._hex(kid), boot=boot, bytes=len(frame))
    gc.collect()
    say("memory", free=gc.mem_free(), used=gc.mem_alloc())
    if cfg["once"]:
        link.close()
        return 0
    link.idle()
    return 0


def main():
    code = run()
    if code:
        sys.exit(code)
