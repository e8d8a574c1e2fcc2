"""JSON that comes from outside (receipts, authority files, board files, node replies): bounded
size and nesting, no NaN or Infinity, and every failure a DecodeError that names the input."""

from __future__ import annotations

import json

from dtacore.errors import DecodeError

# Nothing this project reads nests deeper than 4; 32 leaves room and stays far below the
# recursion limit of Python's parser (about 1,000 levels raise RecursionError there).
MAX_DEPTH = 32


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _depth(obj) -> int:
    # Levels of nested containers, breadth first (no recursion): 0 for a scalar.
    depth, level = 0, [obj]
    while True:
        containers = [x for x in level if isinstance(x, (dict, list))]
        if not containers:
            return depth
        depth += 1
        level = [v for c in containers for v in (c.values() if isinstance(c, dict) else c)]


def _text(obj) -> bool:
    # Every string (keys too) is text: a "\udc80" escape parses to a lone surrogate, which no
    # file, terminal or UTF-8 encoder can take.
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            if not x.isascii():
                try:
                    x.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(x, dict):
            stack.extend(x)
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return True


def loads(data: str | bytes, *, what: str, max_bytes: int, max_depth: int = MAX_DEPTH,
          parse_float=float):
    """Parse `data`; `what` names it in errors ("receipt receipt.json", "authority.json")."""
    if len(data) > max_bytes:
        raise DecodeError(f"{what} is {len(data)} bytes, over its {max_bytes}-byte limit")
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    try:
        obj = json.loads(data, parse_constant=_reject_constant, parse_float=parse_float)
    except RecursionError:
        raise DecodeError(f"{what} nests deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise DecodeError(f"{what} is not JSON ({exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno})") from None
    except ValueError as exc:
        raise DecodeError(f"{what} is not JSON ({exc})") from None
    if _depth(obj) > max_depth:
        raise DecodeError(f"{what} nests deeper than {max_depth} levels")
    if not _text(obj):
        raise DecodeError(f"{what} holds a lone surrogate escape (\\ud800-\\udfff), which is not "
                          "text")
    return obj


def field(obj: dict, key: str, kind, what: str):
    """obj[key] checked to be of `kind` (bool is never an int here)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if kind is int and isinstance(value, bool):
        value = None
    if not isinstance(value, kind):
        raise DecodeError(f"{what}: field {key!r} is missing or not {_kind_name(kind)}")
    return value


def hex_value(value, what: str, size: int | None = None) -> bytes:
    """`value` as bytes from a hex string, optionally of exactly `size` bytes."""
    if not isinstance(value, str):
        raise DecodeError(f"{what} is not a hex string")
    try:
        out = bytes.fromhex(value)
    except ValueError:
        raise DecodeError(f"{what} is not hex") from None
    if size is not None and len(out) != size:
        raise DecodeError(f"{what} must be {size} bytes, got {len(out)}")
    return out


def hex_field(obj: dict, key: str, what: str, size: int | None = None) -> bytes:
    """obj[key] as bytes from a hex string, optionally of exactly `size` bytes."""
    return hex_value(field(obj, key, str, what), f"{what}: field {key!r}", size)


def _kind_name(kind) -> str:
    return {str: "a string", int: "an integer", list: "a list", dict: "an object",
            bool: "true or false"}.get(kind, getattr(kind, "__name__", str(kind)))
