# Strict JSON syntax (RFC 8259) checked byte by byte before a parser runs, for the files a device
# reads (board.json, config.json). MicroPython's json.loads takes much that is not JSON (missing
# commas and colons, leading zeros, bytes after the value, raw control characters, lone
# surrogate escapes, numbers of any length) and CPython's takes NaN and Infinity; a file that
# passes this check is read the same way by both, so host and device agree on every file.
#
# Beyond the grammar, refused: nesting deeper than the caller's limit, escapes of UTF-16
# surrogates (the parsers decode them differently; these files never need them), numbers with
# more than MAX_NUMBER_DIGITS digits in a run. No recursion; iterating bytes allocates nothing.

from dtacore import utf8
from dtanode.errors import ConfigError

# No value in a board definition or a config needs more digits than a u64 (20); longer numbers
# are refused so CPython (whose int parser stops at 4300 digits) and MicroPython (any length)
# agree, and so no long number reaches the heap.
MAX_NUMBER_DIGITS = 20

_WS = b" \t\r\n"
_ESCAPES = b'"\\/bfnrt'
_HEX = b"0123456789abcdefABCDEF"
_LITERALS = (b"true", b"false", b"null")

# States
_VALUE = 0  # a value is due
_AFTER = 1  # a value ended: ',', a closer or (at depth 0) the end
_KEY = 2  # a key is due (or '}' right after '{')
_COLON = 3
_STRING = 4
_NUMBER = 5
_LITERAL = 6
_END = 7  # the top-level value ended: only whitespace may follow


class _Scan:
    def __init__(self, limit, what):
        self.what = what
        self.limit = limit
        self.stack = bytearray(limit + 1)  # 1 = object, 0 = array, per open container
        self.depth = 0
        self.state = _VALUE
        self.key = False  # the string being read is a key
        self.esc = 0  # 0 none, 1 after '\', 2..5 hex digits of \u read so far + 2
        self.cont = 0  # UTF-8 continuation bytes still due
        self.lo = 0x80
        self.hi = 0xBF
        self.num = 0  # number sub-state, see _number
        self.digits = 0
        self.lit = None
        self.pos = 0
        self.d_first = False  # the \u escape's first hex digit was a 'd'
        self.opened = False  # the last structural byte opened a container

    def fail(self, why):
        raise ConfigError("%s is not valid JSON (%s)" % (self.what, why))

    def done_value(self):
        self.state = _AFTER if self.depth else _END

    def open(self, kind):
        if self.depth == self.limit:
            raise ConfigError("%s is nested deeper than %d levels" % (self.what, self.limit))
        self.depth += 1
        self.stack[self.depth] = kind
        self.state = _KEY if kind else _VALUE
        self.opened = True

    def close(self, kind):
        if not self.depth or self.stack[self.depth] != kind:
            self.fail("unbalanced bracket")
        self.depth -= 1
        self.done_value()

    def string(self, c):
        if self.cont:
            if c < self.lo or c > self.hi:
                self.fail("not UTF-8")
            self.cont -= 1
            self.lo, self.hi = 0x80, 0xBF
        elif c >= 0x80:
            rest = utf8.lead(c)
            if rest is None or self.esc:
                self.fail("not UTF-8")
            self.cont, self.lo, self.hi = rest
        elif self.esc == 1:
            if c == 0x75:
                self.esc = 2
            elif c in _ESCAPES:
                self.esc = 0
            else:
                self.fail("bad escape")
        elif self.esc:
            if c not in _HEX or (self.esc == 3 and c in b"89abcdefABCDEF" and self.d_first):
                self.fail("bad or surrogate \\u escape")
            self.d_first = self.esc == 2 and c in b"dD"
            self.esc = 0 if self.esc == 5 else self.esc + 1
        elif c == 0x5C:
            self.esc = 1
        elif c == 0x22:
            if self.key:
                self.state = _COLON
            else:
                self.done_value()
        elif c < 0x20:
            self.fail("control character in a string")

    def number(self, c):
        # num: 1 after '-', 2 after a leading 0, 3 in the integer, 4 after '.', 5 in the
        # fraction, 6 after 'e', 7 after the exponent's sign, 8 in the exponent.
        n = self.num
        digit = 0x30 <= c <= 0x39
        if digit:
            self.digits += 1
            if self.digits > MAX_NUMBER_DIGITS:
                self.fail("a number longer than %d digits" % MAX_NUMBER_DIGITS)
            if n == 2:
                self.fail("leading zero")
            if n == 1:
                self.num = 2 if c == 0x30 else 3
            elif n == 4 or n == 5:
                self.num = 5
            elif n >= 6:
                self.num = 8
            return True
        self.digits = 0
        if c == 0x2E and n in (2, 3):
            self.num = 4
        elif c in b"eE" and n in (2, 3, 5):
            self.num = 6
        elif c in b"+-" and n == 6:
            self.num = 7
        elif n in (2, 3, 5, 8):
            self.done_value()
            return False  # c ends the number and is read again
        else:
            self.fail("malformed number")
        return True

    def literal(self, c):
        if c != self.lit[self.pos]:
            self.fail("unknown word")
        self.pos += 1
        if self.pos == len(self.lit):
            self.done_value()

    def value(self, c, opened):
        if c == 0x22:
            self.state, self.key = _STRING, False
        elif c == 0x7B:
            self.open(1)
        elif c == 0x5B:
            self.open(0)
        elif c == 0x5D and opened:
            self.close(0)
        elif c == 0x2D or 0x30 <= c <= 0x39:
            self.state, self.num, self.digits = _NUMBER, 1, 0
            if c != 0x2D:
                self.number(c)
        else:
            for lit in _LITERALS:
                if c == lit[0]:
                    self.state, self.lit, self.pos = _LITERAL, lit, 1
                    return
            self.fail("a value was expected")

    def structural(self, c):
        s = self.state
        opened = self.opened
        self.opened = False
        if s == _VALUE:
            self.value(c, opened)
        elif s == _KEY:
            if c == 0x22:
                self.state, self.key = _STRING, True
            elif c == 0x7D and opened:
                self.close(1)
            else:
                self.fail("a key was expected")
        elif s == _COLON:
            if c != 0x3A:
                self.fail("':' was expected")
            self.state = _VALUE
        elif s == _AFTER:
            if c == 0x2C:
                self.state = _KEY if self.stack[self.depth] else _VALUE
            elif c == 0x7D or c == 0x5D:
                self.close(1 if c == 0x7D else 0)
            else:
                self.fail("',' or a closing bracket was expected")
        else:
            self.fail("bytes after the JSON value")

    def feed(self, c):
        s = self.state
        if s == _STRING:
            self.string(c)
        elif s == _LITERAL:
            self.literal(c)
        elif s == _NUMBER and self.number(c):
            pass
        elif c in _WS:
            pass
        else:
            self.structural(c)


def check(raw, limit, what):
    # Raise ConfigError unless raw (bytes) is one strict JSON value nested at most limit deep.
    scan = _Scan(limit, what)
    for c in raw:
        scan.feed(c)
    if scan.state == _NUMBER:
        scan.number(0x20)  # the end of the text ends a number
    if scan.state != _END:
        scan.fail("truncated")
