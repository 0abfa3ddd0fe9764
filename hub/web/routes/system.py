"""Health (public), Prometheus metrics and the OpenAPI document (authenticated)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

import hub
from hub.web.auth import WALL_ROLES, current_user, require_roles
from hub.web.schemas import Out

router = APIRouter(tags=["system"])


class HealthOut(Out):
    status: Literal["ok"]
    version: str


@router.get("/api/health")
async def health() -> HealthOut:
    return HealthOut(status="ok", version=hub.__version__)


@router.get(
    "/metrics",
    dependencies=[Depends(require_roles(*WALL_ROLES))],
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/openapi.json", dependencies=[Depends(current_user)])
async def openapi(request: Request) -> dict[str, Any]:
    """This document (OpenAPI 3.1)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
