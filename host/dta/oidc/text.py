"""Making attacker-controlled text (claims, headers, provider error descriptions) safe to print.

Every value that came from a token or a provider goes through ``printable`` before it reaches a
log line, an exception message or a terminal: it is cut to a named length and every character
outside printable ASCII (control characters, escape sequences, non-ASCII look-alikes) is shown as
a Python escape.
"""

from __future__ import annotations

# 120 characters show any issuer, kid or sub we have seen in full and keep a log line short;
# a longer value is cut and the number of characters left out is said.
MAX_PRINTED = 120


def printable(value: object, limit: int = MAX_PRINTED) -> str:
    """``value`` as escaped printable ASCII of at most ``limit`` characters (plus a cut marker).
    Non-strings are shown by type only: their content is not ours to render."""
    if value is None:
        return "(none)"
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    shown = ascii(value[:limit])[1:-1]
    if len(value) > limit:
        shown += f"...(+{len(value) - limit} chars)"
    return shown
