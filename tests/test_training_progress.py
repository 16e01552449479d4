"""What ``python -m training defaults --quiet`` (``make run``'s training) shows: a heading
per model, plain progress lines, the held-out summary, none of TensorFlow's notices."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from tests.conftest import ROOT
from tfnoise import is_known_notice
from training.progress import EpochLines, epoch_line


def test_make_runs_training_shows_heading_progress_and_result_without_notices(
    tiny_models, tmp_path
):
    """``python -m training defaults --quiet``, as ``make run`` calls it, on a repository
    that lacks only sunspots (the fastest default model to train in full)."""
    for name in ("digits", "sentiment", "tumor-anomaly"):
        shutil.copytree(tiny_models / name, tmp_path / name)
    proc = subprocess.run(
        [sys.executable, "-m", "training", "defaults", "--models-dir", str(tmp_path), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert (
        lines[0]
        == f"training 1 default model into {tmp_path}/: sunspots (a few minutes on 2 CPU cores)"
    )
    assert "[1/1] sunspots (rnn): up to 300 epochs (stops after 30 without a better val_loss)" in (
        lines
    )
    progress = [line for line in lines if line.startswith("sunspots  epoch ")]
    assert progress[0].startswith("sunspots  epoch   1/300  loss ")
    assert all(re.search(r"val_loss \d+\.\d{4} .*s/epoch, \d+s so far$", p) for p in progress)
    # throttled: far fewer lines than epochs, and the last one is where training stopped
    trained = int(re.search(r"^trained     (\d+) epochs", proc.stdout, re.M).group(1))
    assert progress[-1].startswith(f"sunspots  epoch {trained:>3}/300  ")
    assert 2 <= len(progress) < trained
    assert any(line.startswith("floor       ") for line in lines)
    assert "exported    version 1" in proc.stdout
    for line in proc.stderr.splitlines():
        assert not is_known_notice(line.encode()), line
    assert "absl::InitializeLog" not in proc.stderr and "oneDNN" not in proc.stderr


def test_epoch_line_puts_losses_first_and_validation_after():
    logs = {"val_accuracy": 0.97123, "accuracy": 0.9, "val_loss": 0.1, "loss": 0.21034}
    assert epoch_line("digits", 3, 25, logs, 4.06, 12.4) == (
        "digits  epoch  3/25  loss 0.2103  accuracy 0.9000  val_loss 0.1000  "
        "val_accuracy 0.9712  4.1s/epoch, 12s so far"
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _train(epochs_run: int, epochs: int, seconds_per_epoch: float) -> list[str]:
    written: list[str] = []
    clock = _Clock()
    lines = EpochLines("m", epochs, written.append, min_interval_s=5.0, clock=clock)
    lines.on_train_begin()
    for epoch in range(epochs_run):
        lines.on_epoch_begin(epoch)
        clock.now += seconds_per_epoch
        lines.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    lines.on_train_end()
    return [line.split("  loss")[0] for line in written]


def test_slow_epochs_print_every_epoch():
    assert _train(3, 3, 6.0) == ["m  epoch 1/3", "m  epoch 2/3", "m  epoch 3/3"]


def test_fast_epochs_print_every_five_seconds_and_the_last_one():
    # 0.5 s epochs: epoch 1, then every 10th (5 s later), and where early stopping ended
    assert _train(27, 300, 0.5) == [
        "m  epoch   1/300",
        "m  epoch  11/300",
        "m  epoch  21/300",
        "m  epoch  27/300",
    ]
    assert _train(20, 20, 0.5)[-1] == "m  epoch 20/20"  # the last epoch, written once
    assert _train(20, 20, 0.5).count("m  epoch 20/20") == 1
