# dtacore: the protocol core shared by the device (MicroPython) and the host (CPython).
# Every module here must run on both: no f-strings with '=' , no int.bit_length, no bytes[::-1],
# no 3-argument pow for inverses, no typing imports.
