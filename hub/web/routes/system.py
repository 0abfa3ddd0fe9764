"""Health (public), Prometheus metrics and the OpenAPI document (authenticated)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

import hub
from hub.web.auth import WALL_ROLES, current_user, require_roles

router = APIRouter(tags=["system"])


@router.get("/api/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": hub.__version__}


@router.get("/metrics", dependencies=[Depends(require_roles(*WALL_ROLES))])
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/openapi.json", dependencies=[Depends(current_user)])
async def openapi(request: Request) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema
