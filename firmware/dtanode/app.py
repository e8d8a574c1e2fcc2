# Boot sequence: board and config, entropy health, identity, boot counter, signed hello over
# MQTT or a serial line.

import gc
import sys

from dtacore import ecdsa, wire
from dtanode import config, entropy, identity, links, net
from dtanode.report import say
from dtanode.version import FIRMWARE_VERSION

EXIT_CONFIG = 2
EXIT_ENTROPY = 3
EXIT_IDENTITY = 4
EXIT_NETWORK = 5


def make_hello(secret, pubkey, boot, board, source):
    unsigned = wire.hello_unsigned(pubkey, boot, board, FIRMWARE_VERSION)
    # RFC 6979 nonce with 32 fresh, health-tested bytes mixed in as extra data.
    sig = ecdsa.sign(secret, wire.hello_digest(unsigned), source.raw(32))
    return unsigned + sig


def run(board_path="board.json", config_path="config.json"):
    try:
        board = config.load_board(board_path)
        cfg = config.load_config(config_path)
    except config.ConfigError as e:
        say("refuse", reason="config", detail=repr(str(e)))
        return EXIT_CONFIG
    say("boot", board=board["name"], firmware=FIRMWARE_VERSION)
    try:
        source = entropy.for_board(board, cfg)
        source.startup()
    except entropy.EntropyError as e:
        # No key is made and nothing is signed from a source that failed its health tests.
        say("refuse", reason="entropy", detail=repr(str(e)))
        return EXIT_ENTROPY
    say("entropy", status="ok", source=repr(source.describe))
    root = cfg["storage"]
    # The curve tables want a few contiguous KiB: collect before the first key operation.
    gc.collect()
    try:
        secret, pubkey, created = identity.load_or_create(root, source)
        boot = identity.next_boot(root)
    except identity.IdentityError as e:
        say("refuse", reason="identity", detail=repr(str(e)))
        return EXIT_IDENTITY
    kid = wire.key_id(pubkey)
    say("identity", key_id=wire._hex(kid), created=created, boot=boot)
    frame = make_hello(secret, pubkey, boot, board["name"], source)
    try:
        link = links.open_link(board, cfg, kid)
        say("network", link=repr(link.describe))
        link.send(frame)
    except (OSError, net.NetError) as e:
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
