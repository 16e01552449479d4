"""``python -m service``: run the server under gunicorn with settings from ``SERVING_*``."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    conf = Path(__file__).with_name("gunicorn_conf.py")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(str(gunicorn), [str(gunicorn), "--config", str(conf)])


if __name__ == "__main__":
    main()
