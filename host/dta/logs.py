"""How the long-running commands (gateway, anchorer, authority) print what happens: one line per
event, each with a UTC timestamp and a level, as text or as JSON lines, on one stream (stderr).

Library modules log through `logging.getLogger("dta.<part>")` and attach typed fields with
``extra={"fields": {...}}``; the text format shows the message, the JSON format the message and
the fields. Anything attacker-controlled in a message must already be escaped
(dta.oidc.text.printable): this module does not re-escape.
"""

from __future__ import annotations

import json
import logging
import sys
import time

TEXT, JSON = "text", "json"
FORMATS = (TEXT, JSON)
# -v / -q move the level by one step each from INFO.
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
ROOT = "dta"


def _timestamp(created: float) -> str:
    ms = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{ms:03d}Z"


def _source(name: str) -> str:
    # "dta.gateway.serial" -> "gateway.serial": the part of the D-TA that speaks.
    return name[len(ROOT) + 1:] if name.startswith(ROOT + ".") else name


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (f"{_timestamp(record.created)} {record.levelname:<7} {_source(record.name)}: "
                f"{record.getMessage()}")
        if record.exc_info and record.levelno >= logging.ERROR:
            exc = record.exc_info[1]
            line += f" ({type(exc).__name__}: {exc})"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": _timestamp(record.created), "level": record.levelname.lower(),
               "source": _source(record.name), "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        if record.exc_info and record.levelno >= logging.ERROR:
            exc = record.exc_info[1]
            out["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(out, sort_keys=True, default=str)


def level_for(verbose: int, quiet: int) -> int:
    index = max(0, min(len(LEVELS) - 1, 1 - verbose + quiet))
    return LEVELS[index]


def configure(level: int = logging.INFO, fmt: str = TEXT, stream=None) -> logging.Handler:
    """Send every `dta.*` logger's records at `level` or above to `stream` (stderr) in `fmt`,
    replacing a handler an earlier call installed. Returns the handler."""
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if getattr(h, "_dta", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == JSON else TextFormatter())
    handler._dta = True
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
