"""The client's failures, each carrying its process exit code (see :mod:`service.client`).

click prints a ``ClickException``'s message to stderr as ``Error: ...`` and exits with its
``exit_code``; usage errors are click's own ``UsageError`` (exit 2).
"""

from __future__ import annotations

import click

from service.client import EXIT_CANNOT_CONNECT, EXIT_SERVER_ERROR


class ServerError(click.ClickException):
    """The server answered with an error status; ``message`` is the server's own."""

    exit_code = EXIT_SERVER_ERROR

    def __init__(self, status: int | str, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status


class CannotConnect(click.ClickException):
    """No answer: connection refused, unreachable address or timeout."""

    exit_code = EXIT_CANNOT_CONNECT

    def __init__(self, target: str, reason: str):
        super().__init__(f"cannot connect to {target}: {reason}")
