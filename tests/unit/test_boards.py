"""Board definitions (boards/*.json) are checked strictly: every shipped one loads, and each kind
of mistake is a ConfigError that names the key."""

import copy
import json

import pytest

from dta.errors import ConfigError
from dta.firmware import boards

BASE = boards.load("esp32-devkitc")


def parse(obj) -> dict:
    return boards.parse(json.dumps(obj), where="test.json")


def mutated(path, value, base=BASE):
    board = copy.deepcopy(base)
    node = board
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return board


@pytest.mark.parametrize("name", boards.names())
def test_every_shipped_board_loads(name):
    board = boards.load(name)
    assert board["name"] == name
    if not board["emulated"]:
        flashable = boards.flashable(name)
        assert flashable.filesystem.end <= flashable.flash_size
        assert flashable.chip_name in ("ESP32", "ESP32-S3", "ESP32-C3")


def test_the_romfs_board_has_the_layout_of_its_partition_csv():
    board = boards.flashable("esp32-devkitc-romfs")
    # boards/partitions-4MiB-romfs-256k.csv: upstream's ports/esp32/partitions-4MiB-romfs.csv
    # (factory 0x10000+0x1D0000, romfs 0x1E0000) with a 256 KiB romfs and the vfs after it
    rows = {}
    for line in (boards.BOARDS_DIR / "partitions-4MiB-romfs-256k.csv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, _, offset, size = [f.strip() for f in line.split(",")[:5]]
            rows[name] = (int(offset, 16), int(size, 16))
    assert (board.app.offset, board.app.size) == rows["factory"] == (0x10000, 0x1D0000)
    assert (board.romfs.offset, board.romfs.size) == rows["romfs"] == (0x1E0000, 0x40000)
    assert (board.filesystem.offset, board.filesystem.size) == rows["vfs"]
    assert board.firmware.sha256 is None  # a custom build: the operator pins it


def test_the_emulated_board_has_nothing_to_flash():
    with pytest.raises(ConfigError, match="emulated"):
        boards.flashable("unix")


@pytest.mark.parametrize("text, match", [
    ("42", "expected an object"),
    ('"esp32"', "expected an object"),
    ("[]", "expected an object"),
    ("null", "expected an object"),
    ("[" * 30000 + "]" * 30000, "nests deeper"),
    ("[" * 100000 + "]" * 100000, "over its 65536-byte limit"),
    ('{"a": ' * 50 + "1" + "}" * 50, "nests deeper"),
    ("{", "not JSON"),
    ('{"name": NaN}', "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_malformed_files_are_refused(text, match):
    with pytest.raises(ConfigError, match=match):
        boards.parse(text, where="test.json")


@pytest.mark.parametrize("path, value, match", [
    (["colour"], "red", "unknown key 'colour'"),
    (["flash", "speed"], "80m", "unknown key 'speed'"),
    (["partitions", "app", "label"], "factory", "unknown key 'label'"),
    (["emulated"], "no", "emulated: expected true or false"),
    (["heap_kib"], True, "heap_kib: expected an integer"),
    (["heap_kib"], 1.5, "heap_kib: expected an integer"),
    (["flash", "baud"], "460800", "flash: baud: expected an integer"),
    (["transport", "serial"], [], "serial: expected an object"),
    (["name"], "ESP32 DevKit", "name"),
    (["chip"], "esp8266", "chip: 'esp8266' is not one of"),
    (["flash", "size"], "3MB", "flash.size"),
    (["entropy", "source"], "dice", "entropy.source"),
    (["firmware"], KeyError, "needs firmware"),
    (["firmware", "sha256"], "ABC", "sha256"),
    (["firmware", "sha256"], "A" * 64, "sha256"),
    (["firmware", "file"], "../etc/passwd", "not a .bin file name"),
    (["firmware", "url"], "http://micropython.org/x.bin", "https"),
    (["firmware", "offset"], "4096", "hex offset"),
    (["partitions", "app", "offset"], "0x10800", "multiples of 0x1000"),
    (["partitions", "app", "size"], "0x0", "non-zero"),
    (["partitions", "filesystem", "block_size"], 512, "block_size must be 4096"),
    (["partitions", "filesystem", "offset"], "0x100000", "past the start of"),
    (["partitions", "filesystem", "size"], "0x400000", "past the end of the 4 MiB flash"),
    (["partitions", "table"], "0x20000", "partitions.table"),
    (["partitions", "romfs"], {"offset": "0x1f0000", "size": "0x20000"}, "past the start of"),
])
def test_each_mistake_is_named(path, value, match):
    with pytest.raises(ConfigError, match=match):
        parse(mutated(path, value))


def test_an_emulated_board_with_flashing_sections_is_refused():
    unix = boards.load("unix")
    with pytest.raises(ConfigError, match="emulated board has no chip"):
        parse(dict(unix, flash=BASE["flash"]))


def test_a_file_whose_name_differs_from_its_board_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    (tmp_path / "other.json").write_text(json.dumps(BASE))
    with pytest.raises(ConfigError, match="name is 'esp32-devkitc', the file says 'other'"):
        boards.load("other")
    with pytest.raises(ConfigError, match="unknown board"):
        boards.load("missing")
    with pytest.raises(ConfigError, match="not a board name"):
        boards.load("../boards/unix")
