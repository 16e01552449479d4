"""The filter process: stdin (the filtered process's stderr) to stdout, notices dropped."""

import signal

from tfnoise import copy_filtered

# Ctrl-C reaches the whole process group: the filter keeps printing until the server or
# trainer it serves has written its last line and closed the pipe.
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
copy_filtered(0, 1)
