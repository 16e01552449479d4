"""The model server: TF Serving REST/gRPC and Open Inference Protocol over one data plane.

Use :func:`create_app` (gunicorn: ``service:create_app()``, started by the worker hook)
or ``python -m service``.
"""

from __future__ import annotations


def create_app(*args, **kwargs):
    from service.app import create_app as factory

    return factory(*args, **kwargs)


__all__ = ["create_app"]
