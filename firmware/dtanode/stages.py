# Unloading what a stage of the agent no longer needs: a module's bytecode, constants and tables
# live in the heap (unless frozen or in ROMFS), and a 64 KiB heap cannot hold every stage's
# modules at once. A module is dropped from sys.modules and from its package, then collected
# once nothing else refers to it; importing it again later reloads it.

import gc
import sys


def unload(*names):
    for name in names:
        mod = sys.modules.pop(name, None)
        if mod is None:
            continue
        pkg, _, attr = name.rpartition(".")
        parent = sys.modules.get(pkg)
        if parent is not None and attr in parent.__dict__:
            delattr(parent, attr)
    gc.collect()
