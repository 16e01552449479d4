"""Operations bodies: liveness and readiness (``/metrics`` is Prometheus text)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.api.schemas.common import Body


class Alive(Body):
    status: Literal["alive"]


class Ready(Body):
    status: Literal["ready"]


class NotReady(Body):
    status: Literal["not ready"]
    reasons: dict[str, str] = Field(description="model -> why it cannot serve")
