"""A command-line client for the server: ``python -m service.client COMMAND ...``.

Commands: ``status``, ``metadata``, ``predict``, ``classify`` (REST, or TF Serving's gRPC
API with ``--grpc HOST:PORT``), ``forecast`` and ``detect`` (REST only: TF Serving's gRPC
API has no such methods). Inputs come from files or stdin as JSON, CSV, PNG/JPEG images or
text (one sentence per line); output is a readable table, or the server's JSON with
``--json``.

Exit codes, for scripts:

====  ===============================================================================
0     the server answered successfully
1     the server answered an error (HTTP 4xx/5xx or a gRPC error status); its message
      is printed to stderr
2     usage error: bad options, unreadable or unparsable input, a REST-only command
      with ``--grpc``
3     cannot connect to the server (refused, unreachable, timed out)
====  ===============================================================================

REST commands never import TensorFlow (the client starts in a fraction of a second);
``--grpc`` imports the ``tensorflow_serving`` protos, which bring TensorFlow with them.
"""

EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE, EXIT_CANNOT_CONNECT = 0, 1, 2, 3
