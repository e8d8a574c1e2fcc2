# Mount a flashable image's filesystems the way MicroPython on the board does, on the VM:
# the LittleFS partition with vfs.VfsLfs2 (MicroPython's defaults; 4096-byte blocks, the
# partition's block count) over a file-backed block device, the ROMFS partition (if any) with
# vfs.VfsRom at /rom. Then import the firmware from the image itself (/rom/lib or /flash/lib)
# and load /flash/config.json with the firmware's own loader.
# argv: littlefs-region-file block-count [romfs-region-file]
import os
import sys

import vfs

BLOCK = 4096


class FileBlocks:
    # Reads past the end of the file are erased flash (FF): the image leaves trailing erased
    # blocks out.
    def __init__(self, path, count):
        self.f = open(path, "rb")
        self.size = os.stat(path)[6]
        self.count = count

    def readblocks(self, n, buf, off=0):
        pos = n * BLOCK + off
        mv = memoryview(buf)
        have = max(0, min(len(buf), self.size - pos))
        if have:
            self.f.seek(pos)
            self.f.readinto(mv[:have])
        for i in range(have, len(buf)):
            buf[i] = 0xFF

    def writeblocks(self, n, buf, off=0):
        raise OSError(30)  # EROFS: this check never writes

    def ioctl(self, op, arg):
        if op == 4:
            return self.count
        if op == 5:
            return BLOCK
        return 0


def walk(top, prefix=""):
    for entry in sorted(os.ilistdir(top)):
        name, kind = entry[0], entry[1]
        path = top + "/" + name
        if kind == 0x4000:
            walk(path, prefix + name + "/")
        else:
            print("file", prefix + name, os.stat(path)[6])


vfs.mount(vfs.VfsLfs2(FileBlocks(sys.argv[1], int(sys.argv[2]))), "/flash", readonly=True)
walk("/flash")
if len(sys.argv) > 3:
    with open(sys.argv[3], "rb") as f:
        vfs.mount(vfs.VfsRom(f.read()), "/rom")
    walk("/rom", "rom:")
    sys.path.insert(0, "/rom/lib")
else:
    sys.path.insert(0, "/flash/lib")
from dtanode import config  # noqa: E402

cfg = config.load_config("/flash/config.json")
board = config.load_board("/flash/board.json")
print("loaded", config.__file__, board["name"], cfg["network"], len(cfg["dta_ids"]),
      cfg["wifi_ssid"])
