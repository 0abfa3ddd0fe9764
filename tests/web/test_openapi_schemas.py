"""Every operation of the OpenAPI document says what its success answer holds: a JSON schema
(a response model, not an untyped dict) or an explicit other media type. The UI's types
(hub/web/ui/src/api-types.ts) are generated from this document; a route without a response
model would leave a hole there."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Response
from web_helpers import make_settings

from hub.app import create_app

JSON = "application/json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

FREE_FORM = {("GET", "/api/openapi.json")}
"""Operations whose JSON answer is free-form on purpose: the OpenAPI document itself."""


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # No lifespan: the document depends on the routes only.
    doc: dict[str, Any] = create_app(make_settings(tmp_path_factory.mktemp("openapi"))).openapi()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _untyped(schema: dict[str, Any]) -> bool:
    """No schema, or one any JSON object passes (what ``dict[str, Any]`` becomes)."""
    s = {k: v for k, v in schema.items() if k not in ("title", "description")}
    if s.get("type") == "array":
        return _untyped(s.get("items", {}))
    return s in ({}, {"type": "object"}, {"type": "object", "additionalProperties": True})


def _problems(doc: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> list[str]:
    success = {code: r for code, r in op.get("responses", {}).items() if code.startswith("2")}
    if not success:
        return [f"{method} {path}: no 2xx response documented"]
    out = []
    for code, response in success.items():
        content: dict[str, Any] = response.get("content") or {}
        if code == "204":
            if content:
                out.append(f"{method} {path}: 204 documents a body")
            continue
        if not content:
            out.append(
                f"{method} {path}: {code} has no content; return a response model, or declare "
                'the media type (responses={200: {"content": {"image/jpeg": {}}}})'
            )
            continue
        if JSON not in content:
            continue  # an explicit other media type (image/jpeg, text/plain)
        schema = content[JSON].get("schema")
        if schema is None or _untyped(schema):
            if (method, path) not in FREE_FORM:
                out.append(f"{method} {path}: {code} JSON has no typed schema ({schema!r})")
            continue
        ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
        if ref is not None and ref.rsplit("/", 1)[-1] not in doc["components"]["schemas"]:
            out.append(f"{method} {path}: {code} refers to a missing schema {ref}")
    return out


def test_every_operation_documents_its_success_body(document: dict[str, Any]) -> None:
    ops = _operations(document)
    assert len(ops) >= 25
    problems = [p for method, path, op in ops for p in _problems(document, method, path, op)]
    assert not problems, "\n".join(problems)


def test_binary_and_text_answers_are_declared(document: dict[str, Any]) -> None:
    paths = document["paths"]
    snapshot = paths["/api/events/{event_id}/snapshot"]["get"]["responses"]["200"]["content"]
    assert set(snapshot) == {"image/jpeg"}
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(metrics) == {"text/plain"}


def test_the_check_finds_untyped_routes() -> None:
    """A route returning a plain dict, or declaring nothing, is reported by name."""
    app = FastAPI()

    @app.get("/api/loose")
    async def loose() -> dict[str, Any]:
        return {}

    @app.get("/api/bare")
    async def bare() -> Response:
        return Response(b"")

    doc = app.openapi()
    problems = [p for m, path, op in _operations(doc) for p in _problems(doc, m, path, op)]
    assert len(problems) == 2
    assert any("GET /api/loose" in p for p in problems)
    assert any("GET /api/bare" in p for p in problems)
