"""Ctrl-C at a step boundary: :class:`DeferredInterrupt`.

A ``KeyboardInterrupt`` raised wherever Python happens to be could stop a step between its
gradient and its update, or an optimizer between its moments and its parameters: the state
would be torn, and no checkpoint of it could be trusted. While training, the first SIGINT
only sets :attr:`DeferredInterrupt.requested`; the Trainer looks at it after each step and
each epoch, where the state is whole, saves a checkpoint there and raises
``KeyboardInterrupt``. A second SIGINT raises at once (for a step that hangs).

The handler is installed only in the main thread and only over Python's default one, so a
program (or a notebook kernel) that handles SIGINT itself keeps its own handling.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["DeferredInterrupt"]


class DeferredInterrupt:
    """``with DeferredInterrupt() as interrupt:`` defers the first SIGINT to
    :meth:`check` (see the module docstring); leaving the block restores the handler, and
    raises ``KeyboardInterrupt`` for a request no :meth:`check` saw."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def check(self) -> bool:
        """Whether a SIGINT came since the last check (and forget it)."""
        requested, self.requested = self.requested, False
        return requested

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
        if kind is None and self.check():
            raise KeyboardInterrupt
