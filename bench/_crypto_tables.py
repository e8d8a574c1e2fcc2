# Run by bench/_crypto_op.py in a fresh VM.
#   tables: first use of the G tables: from the ROM modules, then derived (time ms, heap
#           bytes), then the heap of gtable_gen's own code (the deriving needs it loaded).
#   resident: the heap that the handshake's modules and G tables keep once loaded (bytes; on
#           a device they are frozen into flash and take none).
import gc
import sys
import time

gc.collect()
_BASE = gc.mem_alloc()
# Imported after _BASE so 'resident' counts their heap; any operation loads them.
from dtacore import ecmult, gtable, secp256k1  # noqa: E402, F401


def tables():
    gc.collect()
    a = gc.mem_alloc()
    t = time.ticks_us()
    gtable.comb_blob()
    gtable.wnaf_blob()
    out = [time.ticks_diff(time.ticks_us(), t) / 1000]
    gc.collect()
    out.append(gc.mem_alloc() - a)
    a = gc.mem_alloc()
    from dtacore import gtable_gen
    gc.collect()
    code = gc.mem_alloc() - a
    a = gc.mem_alloc()
    t = time.ticks_us()
    gtable_gen.use_derived()
    out.append(time.ticks_diff(time.ticks_us(), t) / 1000)
    gc.collect()
    out.append(gc.mem_alloc() - a)
    out.append(code)
    print("tables", *out)


def resident():
    from dtacore import ecdh, ecdsa, ecverify, hmac  # noqa: F401
    gtable.comb_blob()
    gtable.wnaf_blob()
    gc.collect()
    print("resident", gc.mem_alloc() - _BASE)


if sys.argv[1] == "resident":
    resident()
else:
    tables()
