"""``python -m service.client``: see :mod:`service.client`."""

from service.client.cli import main

main()
