"""`dta devices image | flash | provision`, and `dta devices enroll --from-port`: a real board
from the MicroPython file to an enrolled device (dta.flash does the work; docs/flashing.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dta import exitcodes
from dta.cli.context import USER_ERRORS, codes, emit, fail, json_option
from dta.errors import ConfigError
from dta.flash import devconfig
from dta.flash.errors import CapacityError, DeviceError, FirmwareError

BOARD = click.option("--board", required=True, help="Board name (`dta firmware boards`).")
CONFIG = click.option("--config", "config_path", required=True,
                      type=click.Path(dir_okay=False, exists=True),
                      help="The device's config (device.toml; keys: docs/flashing.md).")
SECRETS = click.option("--secrets", "secrets_path", default=None,
                       type=click.Path(dir_okay=False, exists=True),
                       help="A 0600 TOML file with wifi_password / mqtt_password (else asked "
                            "for on the terminal; never echoed or logged).")


def _fail(exc: BaseException):
    # Flashing's own classes: a firmware or image that does not check, a board that does not
    # answer, a bundle too large for its partition.
    if isinstance(exc, FirmwareError):
        fail(exc, exitcodes.VERIFY_FAILED)
    if isinstance(exc, DeviceError):
        fail(exc, exitcodes.UNREACHABLE)
    if isinstance(exc, CapacityError):
        fail(exc, exitcodes.CONFIG)
    fail(exc)


def _config(config_path: str, secrets_path: str | None):
    cfg = devconfig.load_device_toml(config_path)
    if secrets_path:
        return cfg, devconfig.load_secrets(secrets_path)
    if devconfig.needed_secrets(cfg) and not sys.stdin.isatty():
        raise ConfigError(f"{config_path} needs {', '.join(devconfig.needed_secrets(cfg))}: "
                          "give --secrets FILE (0600) or run on a terminal to be asked")
    return cfg, devconfig.prompt_secrets(cfg)


def _progress():
    bars: dict = {}

    def on(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = click.progressbar(length=max(total, 1), label=f"{stage:<6}",
                                                  file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)
    return on


@click.command("image", epilog=codes(exitcodes.CONFIG, exitcodes.VERIFY_FAILED))
@BOARD
@click.option("--firmware", "firmware_path", required=True,
              type=click.Path(dir_okay=False, exists=True),
              help="The MicroPython firmware file the board definition pins (by SHA-256).")
@CONFIG
@SECRETS
@click.option("-o", "--out", required=True, type=click.Path(),
              help="The image file (with --batch: a new directory).")
@click.option("--batch", type=int, default=None, help="N images for a factory run, each with "
              "its own serial (<prefix>-0001...), and a manifest.json.")
@click.option("--serial-prefix", default="dev", show_default=True,
              help="With --batch: the devices' serial prefix.")
@json_option
def image_cmd(board, firmware_path, config_path, secrets_path, out, batch, serial_prefix,
              as_json):
    """One flashable image: MicroPython + the bundled firmware + this device's config. Nothing
    secret is made here: the device makes its own key on its first boot."""
    from dta.firmware import boards
    from dta.firmware.bundle import build
    from dta.flash import image

    try:
        fb = boards.flashable(board)
        cfg, secrets = _config(config_path, secrets_path)
        bundle = build(board, Path(out).parent / f".{Path(out).name}.bundle")
        if batch is None:
            made = image.build_image(fb, firmware_path, bundle, cfg, secrets, out)
            data = {"image": str(made.path), "bytes": made.size,
                    "regions": [r.name for r in made.regions]}
        else:
            b = image.build_batch(fb, firmware_path, bundle, cfg, secrets, out, count=batch,
                                  serial_prefix=serial_prefix)
            data = {"directory": str(b.directory), "manifest": str(b.manifest),
                    "images": [im.path.name for im in b.images]}
    except USER_ERRORS as exc:
        _fail(exc)
    emit(as_json, data, lambda d: f"wrote {d.get('image') or d['directory']}")


@click.command("flash", epilog=codes(exitcodes.VERIFY_FAILED, exitcodes.UNREACHABLE))
@click.option("--port", required=True, help="The board's serial port (/dev/ttyUSB0).")
@BOARD
@click.option("--image", "image_path", required=True, type=click.Path(dir_okay=False,
                                                                      exists=True))
@json_option
def flash_cmd(port, board, image_path, as_json):
    """Erase the board, write and verify the image (esptool), reset it, and wait for its first
    hello: prints the key id the device made. Needs a real board."""
    from dta.firmware import boards
    from dta.flash import esptool_flash

    try:
        done = esptool_flash.flash(port, boards.flashable(board), image_path,
                                   progress=None if as_json else _progress(),
                                   on_message=lambda m: click.echo(m, err=True))
    except USER_ERRORS as exc:
        _fail(exc)
    emit(as_json, {"chip": done.chip, "flash_size": done.flash_size, "key_id": done.key_id,
                   "boot": done.hello.boot},
         lambda d: f"{d['chip']} flashed; the device says hello with key id {d['key_id']} "
                   f"(enrol it: dta devices enroll {d['key_id']})")


@click.command("provision", epilog=codes(exitcodes.CONFIG, exitcodes.UNREACHABLE))
@click.option("--port", required=True, help="The running board's serial port.")
@CONFIG
@SECRETS
@json_option
def provision_cmd(port, config_path, secrets_path, as_json):
    """Replace the config of a running board over its raw REPL (written new, then renamed);
    the board reboots into it and says hello with the same key."""
    from dta.flash import provision

    try:
        cfg, secrets = _config(config_path, secrets_path)
        done = provision.provision(port, cfg, secrets)
    except USER_ERRORS as exc:
        _fail(exc)
    emit(as_json, {"key_id": done.hello.key_id, "boot": done.hello.boot,
                   "serial": done.serial, "config_bytes": done.config_bytes},
         lambda d: f"provisioned; the device rebooted and says hello as {d['key_id']} "
                   f"(boot #{d['boot']})")


def key_id_from_port(port: str) -> str:
    """The key id the device on `port` reports on its console (for `enroll --from-port`)."""
    from dta.flash import console
    try:
        return console.wait_for_hello(port).key_id
    except USER_ERRORS as exc:
        _fail(exc)
