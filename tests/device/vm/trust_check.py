# Runs on the MicroPython VM (and on CPython, for comparison): dtacore.trust.BirthCheck over a
# case file, one part at a time as frames would bring them. Lines:
#   C <name> <dta_id> <network> <k> <trusted header> <trusted height>   a new case
#   P <part hex>                                                        one bundle part
#   E                                                                   the case's end
# Prints "<name> ok <pubkey> <birth> <tip>" or "<name> <error class> <link>" per case.
import gc
import sys
from binascii import hexlify, unhexlify

from dtacore import network, trust
from dtacore.errors import ProtocolError

name = check = error = None
with open(sys.argv[1]) as fh:
    for line in fh:
        f = line.split()
        if not f:
            continue
        try:
            if f[0] == "C":
                name, error = f[1], None
                check = trust.BirthCheck(unhexlify(f[2]), network.by_name(f[3]), int(f[4]),
                                         unhexlify(f[5]), int(f[6]))
            elif f[0] == "P" and error is None:
                check.feed(unhexlify(f[1]))
            elif f[0] == "E" and error is None:
                v = check.result()
                error = "ok %s %d %d" % (hexlify(v.identity_pubkey).decode(), v.birth_height,
                                         v.tip_height)
        except ProtocolError as e:
            error = type(e).__name__ + " " + getattr(e, "link", "-").replace(" ", "-")
        if f[0] == "E":
            print(name, error)
            check = None
        f = line = None
        gc.collect()
