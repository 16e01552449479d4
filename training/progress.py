"""Training progress for a person waiting on a terminal or reading a log: plain lines.

Keras's progress bars redraw one line with carriage returns, which a log (and ``make run``
under ``--quiet``) cannot show, and silence tells a new user nothing for minutes. One line
per epoch says which model is training, how far it is, how long an epoch takes and how the
validation loss moves (the number early stopping watches). Models whose epochs take a
fraction of a second (the 300-epoch regressors) would print hundreds of lines, so a line
is written at most every ``min_interval_s``, plus the first and the last epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import keras


def _print_now(line: str) -> None:
    print(line, flush=True)  # a pipe (make, a log collector) would otherwise hold it


def epoch_line(
    model: str,
    epoch: int,
    epochs: int,
    logs: Mapping[str, float],
    epoch_seconds: float,
    elapsed_seconds: float,
) -> str:
    """``digits  epoch  3/25  loss 0.2103  accuracy 0.93  val_loss 0.1000 ...  4.1s/epoch,
    12s so far``: ``epoch`` counts from 1; the training loss and metrics first, then their
    validation twins."""
    width = len(str(epochs))
    names = sorted(logs, key=lambda k: (k.startswith("val_"), k not in ("loss", "val_loss"), k))
    metrics = "  ".join(f"{k} {float(logs[k]):.4f}" for k in names)
    return (
        f"{model}  epoch {epoch:>{width}}/{epochs}  {metrics}  "
        f"{epoch_seconds:.1f}s/epoch, {elapsed_seconds:.0f}s so far"
    )


class EpochLines(keras.callbacks.Callback):
    """A Keras callback writing :func:`epoch_line` for the first epoch, then at most every
    ``min_interval_s``, and for the last epoch run (early stopping included)."""

    def __init__(
        self,
        model_name: str,
        epochs: int,
        write: Callable[[str], None] = _print_now,
        min_interval_s: float = 5.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        super().__init__()
        self.model_name, self.epochs, self.write = model_name, epochs, write
        self.min_interval_s, self.clock = min_interval_s, clock
        self._train_started = self._epoch_started = self._last_written = 0.0
        self._pending: str | None = None  # the newest line not written yet

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._train_started = self.clock()
        self._last_written = float("-inf")
        self._pending = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = self.clock()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = self.clock()
        line = epoch_line(
            self.model_name,
            epoch + 1,
            self.epochs,
            logs or {},
            now - self._epoch_started,
            now - self._train_started,
        )
        if now - self._last_written >= self.min_interval_s or epoch + 1 == self.epochs:
            self.write(line)
            self._last_written, self._pending = now, None
        else:
            self._pending = line

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._pending is not None:  # stopped early between two written lines
            self.write(self._pending)
            self._pending = None
