"""The Trainer's progress output (``verbose=True``): a bar on a terminal, a line per epoch.

::

    training on numpy (cpu), 60000 samples, 20 epochs x 600 steps
    epoch   1/20  loss 0.2475  train acc 0.9653  test acc 0.9618  6.1 s  9,836 img/s
    ...
    final test accuracy: 0.9841

The lines go to ``file`` (standard output by default). While an epoch runs, a tqdm bar on
standard error shows its steps, the latest loss and the images per second, refreshed every
``refresh_interval`` seconds (each refresh reads the pending losses from a GPU: one
transfer, not one per step). The bar is drawn only where it can redraw itself, on a
terminal or in a Jupyter notebook: redirected to a file, standard error gets nothing and the
lines above are the whole output (a bar refreshed twice a second for a 20-epoch run wrote
186 KB to a log).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .callbacks import Callback

__all__ = ["ProgressLogger", "draws_bars"]


def draws_bars(stream: Any) -> bool:
    """Whether a progress bar written to ``stream`` redraws in place: a terminal, or a
    Jupyter kernel's output stream (which is no terminal but renders carriage returns)."""
    if type(stream).__module__.startswith("ipykernel"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class ProgressLogger(Callback):
    """Keras's ``ProgbarLogger``: a summary line per epoch on ``file`` (default
    ``sys.stdout``, looked up when training starts) and, where standard error draws bars
    (:func:`draws_bars`), a progress bar for the epoch in progress; ``bar=True`` or ``False``
    decides instead."""

    def __init__(self, file: TextIO | None = None, refresh_interval: float = 0.5,
                 bar: bool | None = None) -> None:  # fmt: skip
        self.file, self.refresh_interval, self.bar = file, refresh_interval, bar
        self._bar: Any = None
        self._start = self._last_refresh = 0.0
        self._first_step = 0

    def _print(self, line: str) -> None:
        from tqdm import tqdm

        file = self.file if self.file is not None else sys.stdout
        tqdm.write(line, file=file)
        file.flush()  # a pipe or a file gets each line now, not when a buffer fills

    def on_train_begin(self, trainer: Any) -> None:
        self._print(
            f"training on {trainer.backend.name} ({trainer.backend.device}), "
            f"{trainer.train_size} samples, {trainer.epochs} epochs x "
            f"{trainer.iter_per_epoch} steps"
        )

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        self._start = self._last_refresh = time.perf_counter()
        self._first_step = trainer.epoch_step  # > 0 when resumed in the middle of the epoch
        if self.bar if self.bar is not None else draws_bars(sys.stderr):
            from tqdm import tqdm

            self._bar = tqdm(total=trainer.iter_per_epoch, initial=trainer.epoch_step,
                             desc=f"epoch {epoch + 1}/{trainer.epochs}", unit="step",
                             leave=False, file=sys.stderr, dynamic_ncols=True)  # fmt: skip

    def on_step_end(self, trainer: Any, step: int) -> None:
        if self._bar is None:
            return
        now = time.perf_counter()
        last_step = trainer.epoch_step == trainer.iter_per_epoch
        if now - self._last_refresh >= self.refresh_interval or last_step:
            loss = trainer.epoch_losses.read()  # a device read, at a bounded rate
            steps = trainer.epoch_step - self._first_step
            seen = min(steps * trainer.batch_size, trainer.train_size)
            rate = seen / (now - self._start) if now > self._start else 0.0
            self._bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:,.0f}", refresh=False)
            self._last_refresh = now
        self._bar.update(1)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_epoch_end(self, trainer: Any, epoch: int) -> None:
        self._close_bar()
        losses = trainer.epoch_losses.values
        seconds = trainer.epoch_time_list[-1]
        self._print(
            f"epoch {epoch + 1:>3}/{trainer.epochs}  loss {sum(losses) / len(losses):.4f}  "
            f"train acc {trainer.train_acc_list[-1]:.4f}  "
            f"test acc {trainer.test_acc_list[-1]:.4f}  "
            f"{seconds:.1f} s  {trainer.train_size / seconds:,.0f} img/s"
        )

    def on_train_end(self, trainer: Any) -> None:
        if trainer.test_acc_list:
            self._print(f"final test accuracy: {trainer.test_acc_list[-1]:.4f}")

    def on_interrupt(self, trainer: Any) -> None:
        self._close_bar()
