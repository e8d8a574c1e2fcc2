"""Where esptool's output goes while dta.flash calls its API.

esptool 5 reports through one process-wide logger (esp_pylib's EspLog singleton, replaceable
with `log.set_logger`): messages via print/note/warn/err, progress via progress_bar(cur,
total). `captured()` installs a logger that hands messages to `on_message` and progress to
`on_progress` for the duration of a with-block, then puts the previous logger back.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from esp_pylib.logger import EspLog, EspLogBase

MessageFn = Callable[[str], None]
ProgressFn = Callable[[int, int], None]


def _text(args) -> str:
    return " ".join(str(a) for a in args).strip()


class _Forwarding(EspLogBase):
    def __init__(self, on_message: MessageFn | None, on_progress: ProgressFn | None):
        self.on_message = on_message
        self.on_progress = on_progress

    def _say(self, prefix: str, args) -> None:
        text = _text(args)
        if text and self.on_message:
            self.on_message(prefix + text)

    def print(self, *args, **kwargs) -> None:
        self._say("", args)

    def note(self, *args) -> None:
        self._say("note: ", args)

    def hint(self, *args) -> None:
        self._say("hint: ", args)

    def warn(self, *args, suggestion: str | None = None) -> None:
        self._say("warning: ", args)

    def err(self, *args, suggestion: str | None = None) -> None:
        self._say("error: ", args)

    def debug(self, *args) -> None:
        pass

    def set_verbosity(self, mode) -> None:
        pass

    def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "",
                     bar_length: int = 30) -> None:
        if self.on_progress:
            self.on_progress(cur_iter, total_iters)

    # esptool calls these older names too
    warning = warn
    error = err


@contextlib.contextmanager
def captured(on_message: MessageFn | None = None,
             on_progress: ProgressFn | None = None) -> Iterator[None]:
    previous = EspLog.instance
    EspLog.set_logger(_Forwarding(on_message, on_progress))
    try:
        yield
    finally:
        if previous is None:
            EspLog._reset()  # no logger had been made yet: let esptool make its default again
        else:
            EspLog.set_logger(previous)
