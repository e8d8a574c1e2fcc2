# Constant-time helpers: run time depends on the lengths only, never on the contents.


def equal(a, b):
    # True when the byte strings are equal; lengths are not secret.
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0
