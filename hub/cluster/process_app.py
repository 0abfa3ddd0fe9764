"""The HTTP app of a cluster process that serves no API of its own (video worker, ingest
process): its lifespan, and routes the caller adds (``GET /api/health``); no docs, no schema."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

import hub


def process_app(
    what: str, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]
) -> FastAPI:
    return FastAPI(
        title=f"City command-center hub: {what}",
        version=hub.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
