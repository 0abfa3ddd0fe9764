"""Citizen reports over Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), JSON
only, at ``/api/open311/v2``: the services (case categories), new requests (citizen cases) and
their status. Every call carries an ``api_key`` (reads too: the hub answers no one it does not
know), each key rate-limited.

Under ``/api`` like the rest of the hub's API: the same reverse-proxy rule, body limit and
metrics apply, and the wall's catch-all page never answers for it. Errors are the spec's array
``[{"code": status, "description": ...}]``, not problem details. The routes are left out of
the hub's OpenAPI document (and so of the UI's generated types): their shapes are the spec's.

Thin: parse and bound the arguments, check the key, call
:class:`~hub.dispatch.service.CaseService`, map the case to the spec's shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from hub.dispatch.open311_keys import ApiKeys, retry_after
from hub.dispatch.open311_models import (
    MAX_ARGUMENTS,
    Open311Error,
    RequestCreated,
    Service,
    ServiceDefinition,
    ServiceRequest,
    describe,
    notice,
    parse_report,
    request_of,
    search_filter,
    service_of,
)
from hub.dispatch.repo import CaseFilter
from hub.dispatch.routes import Cases
from hub.errors import HubError
from hub.web.params import MAX_ROW_ID, Time
from hub.web.state import hub_state

log = logging.getLogger(__name__)

PREFIX = "/api/open311/v2"
MAX_PAGE_SIZE = 200


class Open311Route(APIRoute):
    """Every error of these routes in the spec's format: 400 for bad arguments (422 too),
    403 for a bad key, 404, 429 with Retry-After."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _errors(400, describe(exc.errors()))
            except HubError as exc:
                status = 400 if exc.status == 422 else exc.status
                if status >= 500:
                    log.error("open311 %s: %s", request.url.path, exc)
                headers = getattr(exc, "headers", None)
                return _errors(status, str(exc) or exc.title, headers)

        return route


def _errors(status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        [{"code": status, "description": description}], status_code=status, headers=headers
    )


router = APIRouter(
    prefix=PREFIX, tags=["open311"], route_class=Open311Route, include_in_schema=False
)
Format = Annotated[str, Path(max_length=8)]
"""The extension of the path: only ``json`` is served."""


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise Open311Error("only JSON is served: use the .json paths")


def api_keys(request: Request) -> ApiKeys:
    """The app's key table and rate limit, made on first use from the settings."""
    state = request.app.state
    keys: ApiKeys | None = getattr(state, "open311_keys", None)
    if keys is None:
        settings = hub_state(request).settings
        keys = ApiKeys(settings.open311_keys, per_minute=settings.open311_per_minute)
        state.open311_keys = keys
    return keys


Keys = Annotated[ApiKeys, Depends(api_keys)]
ApiKey = Annotated[str | None, Query(max_length=256)]


def _client(keys: ApiKeys, key: object) -> str:
    """The client a valid ``api_key`` names, within its rate; every Open311 call needs one,
    reads too (the hub's API answers no one it does not know)."""
    client = keys.client(key if isinstance(key, str) else None)
    if client is None:
        raise Open311Error("a valid api_key is required", 403)
    wait = keys.take(client)
    if wait > 0:
        raise Open311Error(
            "too many requests with this api_key; retry later",
            429,
            headers={"Retry-After": retry_after(wait)},
        )
    return client


@router.get("/services.{fmt}")
async def services(svc: Cases, keys: Keys, fmt: Format, api_key: ApiKey = None) -> list[Service]:
    """Every case category (小类) as a service; ``group`` is its 大类."""
    _json_only(fmt)
    _client(keys, api_key)
    return [service_of(c, svc.catalogue) for c in svc.catalogue]


@router.get("/services/{service_code}.{fmt}")
async def service_definition(
    svc: Cases,
    keys: Keys,
    service_code: Annotated[str, Path(max_length=16)],
    fmt: Format,
    api_key: ApiKey = None,
) -> ServiceDefinition:
    _json_only(fmt)
    _client(keys, api_key)
    if svc.catalogue.get(service_code) is None:
        raise Open311Error(f"no service {service_code!r}", 404)
    return ServiceDefinition(service_code=service_code)


@router.post("/requests.{fmt}", status_code=201)
async def post_request(
    request: Request, svc: Cases, keys: Keys, fmt: Format
) -> list[RequestCreated]:
    """A citizen report: form-encoded as the spec says (JSON accepted too), with ``api_key``.
    It becomes a case (source citizen) in the grid of its lat/long."""
    _json_only(fmt)
    fields = await _arguments(request)
    client = _client(keys, fields.get("api_key"))
    case = await svc.citizen_report(parse_report(fields), client=client)
    created = RequestCreated(
        service_request_id=str(case.id), service_notice=notice(case, svc.calendar.tz)
    )
    return [created]


@router.get("/requests.{fmt}")
async def list_requests(
    svc: Cases,
    keys: Keys,
    fmt: Format,
    api_key: ApiKey = None,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=1000)] = None,
    start_date: Time | None = None,
    end_date: Time | None = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    jurisdiction_id: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> list[ServiceRequest]:
    """Citizen requests, newest first: by id (comma-separated; the other arguments are then
    ignored), or by service codes, status (open, closed) and a requested_datetime range of at
    most 90 days (the last 90 by default); ``page`` and ``page_size`` (at most 200) page it."""
    _json_only(fmt)
    _client(keys, api_key)
    f = search_filter(
        ids=service_request_id,
        codes=service_code,
        statuses=status,
        start=start_date,
        end=end_date,
        now=svc.clock(),
    )
    found = await svc.citizen_cases(f, limit=page_size, offset=(page - 1) * page_size)
    return [request_of(c, svc.catalogue, svc.calendar.tz, media) for c, media in found]


@router.get("/requests/{request_id}.{fmt}")
async def get_request(
    svc: Cases,
    keys: Keys,
    request_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    fmt: Format,
    api_key: ApiKey = None,
) -> list[ServiceRequest]:
    _json_only(fmt)
    _client(keys, api_key)
    found = await svc.citizen_cases(CaseFilter(ids=[request_id]), limit=1, offset=0)
    if not found:
        raise Open311Error(f"no service request {request_id}", 404)
    case, media = found[0]
    return [request_of(case, svc.catalogue, svc.calendar.tz, media)]


async def _arguments(request: Request) -> dict[str, Any]:
    """The POST arguments: form fields (urlencoded or multipart, no files) or a JSON object."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise Open311Error("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Open311Error("the body must be a JSON object of arguments")
        return data
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(max_files=0, max_fields=MAX_ARGUMENTS)
        except HTTPException as exc:
            raise Open311Error(f"the form cannot be read: {exc.detail}") from None
        out: dict[str, Any] = {}
        for k, v in form.multi_items():
            if not isinstance(v, str):
                raise Open311Error("files are not accepted: link media with media_url")
            out[k] = v
        return out
    raise Open311Error(
        "send the arguments form-encoded (application/x-www-form-urlencoded) or as JSON", 415
    )
