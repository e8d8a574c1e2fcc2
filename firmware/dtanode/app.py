# dtanode: the device agent (MicroPython only; runs on ESP32 boards and on the Unix port).
# Boot sequence: board and config, the boot-loop guard, entropy health, identity, boot counter,
# the signed hello; then the main loop (dtanode.agent), which never returns on a board. Each
# stage imports what it needs and the modules a later stage never uses again are unloaded
# (dtanode.stages), so the transport and the handshake find the heap they need; this module
# itself goes before the loop starts (boot() returns the agent, main.py runs its loop).
#
# Safe mode (the boot-loop guard, dtanode.guard): after cfg["safe_mode_boots"] failed boots in a
# row the agent makes no key material and asks for no shares: it says why, then waits for new
# provisioning (a changed config.json), and resets into a normal boot when it arrives.

import gc
import struct
import sys

from dtanode.report import say
from dtanode.stages import unload
from dtanode.version import FIRMWARE_VERSION

EXIT_CONFIG = 2
EXIT_ENTROPY = 3
EXIT_IDENTITY = 4
EXIT_NETWORK = 5
EXIT_SAFE_MODE = 6

# What only the key stage and the hello's signature use (the handshake loads its own).
KEY_MODULES = ("dtanode.identity", "dtacore.ecdsa", "dtacore.fixedbase",
               "dtacore.ecmult", "dtacore.gtable", "dtacore.gtable_comb", "dtacore.hmac",
               "dtacore.secp256k1")
# How often safe mode and a device without a valid config look for new provisioning, ms.
PROVISION_POLL_MS = 2000


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


def _hello(root, board, source, boot):
    # -> (secret, pubkey, key id, signed hello frame), or None when the identity is unusable.
    from dtacore import ecdsa, wire
    from dtanode import identity
    # The curve tables want a few contiguous KiB: collect before the first key operation.
    gc.collect()
    try:
        secret, pubkey, created = identity.load_or_create(root, source)
    except identity.IdentityError as e:
        say("refuse", reason="identity", detail=repr(str(e)))
        return None
    kid = wire.key_id(pubkey)
    say("identity", key_id=wire._hex(kid), created=created, boot=boot)
    unsigned = wire.hello_unsigned(pubkey, boot, board["name"], FIRMWARE_VERSION)
    # RFC 6979 nonce with 32 fresh, health-tested bytes mixed in as extra data.
    frame = unsigned + ecdsa.sign(secret, wire.hello_digest(unsigned), source.raw(32))
    return secret, pubkey, kid, frame


def _digest(path):
    import hashlib
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read(4096)).digest()
    except OSError:
        return b""


def await_provisioning(board, config_path, why):
    # Never returns on a board: feed the watchdog, look for a new config.json, reset into it.
    seen = _digest(config_path)
    say("awaiting-provisioning", reason=why)
    while _digest(config_path) == seen:
        board.feed()
        board.sleep_ms(PROVISION_POLL_MS)
    say("provisioned", action="reset")
    return True


def _boot_counter(root):
    from dtanode import identity
    try:
        return identity.next_boot(root)
    except identity.IdentityError as e:
        say("refuse", reason="identity", detail=repr(str(e)))
        return None


def run(board_path="board.json", config_path="config.json"):
    brd, cfg = _configure(board_path, config_path)
    from dtanode.board import Board
    if brd is None:
        board = Board(_emulated_guess())
        if board.emulated and not board.hosted:
            return EXIT_CONFIG  # a plain VM run (no host board layer): the exit code reports
        await_provisioning(board, config_path, "config")
        board.reset()
    if cfg["memory_trace"]:
        from dtanode import report
        report.trace = True
    board = Board(brd.get("emulated", False))
    if not cfg["once"]:
        board.watchdog(cfg["wdt_timeout_ms"])
    root = cfg["storage"]
    from dtanode import guard
    g = guard.Guard(root)
    boot = _boot_counter(root)
    if boot is None:
        return EXIT_IDENTITY if cfg["once"] else _hold(board, config_path, "identity")
    cause = board.reset_cause()
    last, why, failures = g.previous(cause)
    failed = g.failed_boots(boot)
    say("boot", board=brd["name"], firmware=FIRMWARE_VERSION, boot=boot, reset=cause,
        last=last, last_reason=why, last_failures=failures, failed_boots=failed)
    if failed >= cfg["safe_mode_boots"]:
        say("safe-mode", failed_boots=failed, keys="none made", shares="none requested")
        if cfg["once"]:
            return EXIT_SAFE_MODE
        await_provisioning(board, config_path, "safe-mode")
        g.mark_good(boot)
        board.reset()
    return _start(board, brd, cfg, boot, g, "reset=%s last=%s reason=%s failures=%d "
                  "failed_boots=%d" % (cause, last, why, failures, failed), config_path)


def _start(board, brd, cfg, boot, g, summary, config_path):
    source = _entropy(brd, cfg)
    if source is None:
        return EXIT_ENTROPY if cfg["once"] else _reset_later(board, cfg)
    ident = _hello(cfg["storage"], brd, source, boot)
    unload(*KEY_MODULES)
    if ident is None:
        return EXIT_IDENTITY if cfg["once"] else _hold(board, config_path, "identity")
    from dtacore import channel
    from dtanode.agent import Agent
    agent = Agent(board, brd, cfg, boot, g, ident + (source,))
    if agent.trust is not None:
        from dtanode import shareflow
        shareflow.intern_receipt_check(agent)
        shareflow = None
        unload("dtanode.shareflow")  # the D-TA round loads it again
    if agent.events is not None:
        if agent.outbox.damaged:
            say("outbox-damaged", detail=repr(agent.outbox.damaged))
        agent.events.emit(channel.EVENT_BOOT,
                          struct.pack(">I", boot) + FIRMWARE_VERSION.encode())
        agent.report(summary + " dropped=%d" % agent.outbox.dropped)
    return agent


def _hold(board, config_path, why):
    # A device that must not go on (its key file is damaged: replacing it would make it a new
    # device): it waits for someone to provision it again.
    await_provisioning(board, config_path, why)
    board.reset()


def _reset_later(board, cfg):
    # A failed entropy source may recover after a reset (the radio on, a loose ADC); the boot
    # counts as failed, so a source that never recovers ends in safe mode.
    board.sleep_ms(cfg["backoff_cap_ms"] if cfg["backoff_cap_ms"] < 60000 else 60000)
    board.reset()


def _emulated_guess():
    try:
        import machine
        return not hasattr(machine, "reset")
    except ImportError:
        return True


def boot():
    # The boot stages. -> the agent, whose loop (agent.run) is the rest of the boot; a boot that
    # ends here exits with its code. main.py unloads this module before the loop starts: the
    # boot stages' code is not the loop's.
    got = run()
    if got is None or type(got) is int:
        sys.exit(got or 0)
    return got


def main():
    code = boot().run()
    if code:
        sys.exit(code)
