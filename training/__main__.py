# TensorFlow's known start-up notices stay off the terminal (tfnoise); first, before any
# import can load TensorFlow. Here, not in main(): tests call main() inside pytest.
from tfnoise import filter_stderr

filter_stderr()

from training.cli import main  # noqa: E402

raise SystemExit(main())
