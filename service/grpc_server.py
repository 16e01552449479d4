"""The gRPC server's lifecycle: bind, serve TF Serving's services and health, drain, stop.

One ``grpc.server`` per gunicorn worker, bound to ``host:grpc_port`` with the
``grpc.so_reuseport`` option so every worker listens on the same port and the kernel
balances incoming connections between them. Each worker thus serves REST and gRPC through
its own data plane and batchers: there is no proxy hop and no second model copy in a
separate process, and gRPC requests batch together with REST ones. (gRPC balances per
connection, not per call: one long-lived client channel stays on one worker, so spread
load with several channels or a client-side balancer.) The services themselves are in
:mod:`service.api.grpc_services`; ``grpc.health.v1`` reports SERVING while the data plane
is ready.
"""

from __future__ import annotations

import atexit
import logging
import threading
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from service.api import grpc_services
from service.dataplane import DataPlane
from service.settings import Settings

log = logging.getLogger(__name__)

HEALTH_POLL_S = 0.5
STOP_GRACE_S = 10.0
SERVICES = ("", "tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")


@dataclass
class GrpcServer:
    """A running gRPC server of this worker; :meth:`stop` is idempotent."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    stopped: threading.Event  # stopping began
    closed: threading.Event = field(default_factory=threading.Event)  # stopping ended

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Refuse new calls, let running ones finish within ``grace_s``, then close.

        Every caller returns once the server is closed: the drain starts it on SIGTERM and
        the exit hook, called later, waits for the calls still running."""
        if self.stopped.is_set():
            self.closed.wait(grace_s + 1)
            return
        self.stopped.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait(grace_s + 1)
        self.closed.set()
        log.info("gRPC server on port %d stopped", self.port)


def start(settings: Settings, plane: DataPlane) -> GrpcServer:
    """Bind ``settings.host:settings.grpc_port`` (shared by all workers) and serve."""
    limit = settings.max_request_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.so_reuseport", 1),  # every worker binds the same port
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ],
    )
    grpc_services.add_to_server(plane, server)
    health_servicer = health.HealthServicer()
    for service in SERVICES:
        health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    port = server.add_insecure_port(f"{host}:{settings.grpc_port}")  # raises if it cannot bind
    server.start()
    handle = GrpcServer(server, port, health_servicer, threading.Event())
    threading.Thread(
        target=_track_readiness, args=(plane, handle), name="grpc-health", daemon=True
    ).start()
    # threading's exit hooks run before concurrent.futures shuts its pools down (atexit
    # runs after), so the server drains while its thread pool still accepts work.
    getattr(threading, "_register_atexit", atexit.register)(handle.stop)
    log.info("gRPC server listening on %s:%d", settings.host, port)
    return handle


def _track_readiness(plane: DataPlane, handle: GrpcServer) -> None:
    """Report SERVING while every model is ready (the same rule as /v2/health/ready)."""
    current = None
    while not handle.stopped.is_set():
        status = (
            health_pb2.HealthCheckResponse.NOT_SERVING
            if plane.not_ready()
            else health_pb2.HealthCheckResponse.SERVING
        )
        if status != current:
            for service in SERVICES:
                handle.health.set(service, status)
            current = status
        handle.stopped.wait(HEALTH_POLL_S)
