"""RFC 9457 problem details for every error the API returns. Never a stack trace."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import HubError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _slug(name: str) -> str:
    name = name.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower() or "error"


def problem_body(
    status: int,
    path: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    **extra: Any,
) -> dict[str, Any]:
    """The problem document; ``path`` is the request path only: a query string may carry
    ``?access_token=``."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _phrase(status),
        "status": status,
        "detail": detail or title or _phrase(status),
        "instance": path,
    }
    body.update(extra)
    return body


def problem(
    request: Request,
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body = problem_body(status, request.url.path, title=title, detail=detail, type_=type_, **extra)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


async def _hub_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HubError)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if exc.status >= 500:
        log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
    return problem(
        request,
        exc.status,
        title=exc.title,
        detail=str(exc) or exc.title,
        type_=f"urn:cityhub:problem:{_slug(type(exc).__name__)}",
        headers=headers,
    )


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo "input": it may be a password.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
    return problem(
        request,
        422,
        title="Validation failed",
        detail=f"invalid request: {fields}",
        type_="urn:cityhub:problem:validation",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(request, exc.status_code, detail=detail, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, detail="An internal error occurred; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
