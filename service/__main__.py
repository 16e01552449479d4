"""``python -m service``: run the server under gunicorn with settings from ``SERVING_*``.

The settings are validated here first (a bad variable is named before anything starts),
then stderr goes through the filter that keeps TensorFlow's known start-up notices off
the terminal (:mod:`tfnoise`; not at ``SERVING_LOG_LEVEL=debug``, which shows everything),
and gunicorn replaces this process, so signals reach its master directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from service.settings import load_settings


def main() -> None:
    settings = load_settings()
    # TensorFlow's C++ INFO lines (graph passes, thread pools) are for debugging it, not for
    # serving; WARNING and above still show. As `python -m training` and the images do.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if settings.log_level != "DEBUG":
        from tfnoise import filter_stderr

        filter_stderr()
    conf = Path(__file__).with_name("gunicorn_conf.py")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(str(gunicorn), [str(gunicorn), "--config", str(conf)])


if __name__ == "__main__":
    main()
