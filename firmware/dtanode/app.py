# Boot sequence: board and config, entropy health, identity, boot counter, signed hello over MQTT.

import gc
import sys

from dtacore import ecdsa, wire
from dtanode import config, entropy, identity, net
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


def send_hello(cfg, kid, frame):
    from umqtt.simple import MQTTClient
    client = MQTTClient("dta-" + wire._hex(kid), cfg["mqtt_host"], cfg["mqtt_port"],
                        keepalive=cfg["keepalive"])
    client.connect()
    client.publish(wire.hello_topic(cfg["topic_prefix"], kid).encode(), frame, qos=1)
    return client


def stay_online(client, keepalive):
    import time
    while True:
        time.sleep(keepalive // 2 or 1)
        client.ping()
        client.check_msg()


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
        say("network", link=repr(net.up(board, cfg)))
        client = send_hello(cfg, kid, frame)
    except (OSError, net.NetError) as e:
        say("offline", reason=repr(str(e)))
        return EXIT_NETWORK
    say("hello", key_id=wire._hex(kid), boot=boot, bytes=len(frame))
    gc.collect()
    say("memory", free=gc.mem_free(), used=gc.mem_alloc())
    if cfg["once"]:
        client.disconnect()
        return 0
    stay_online(client, cfg["keepalive"])
    return 0


def main():
    code = run()
    if code:
        sys.exit(code)
