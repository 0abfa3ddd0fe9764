"""The built UI (``hub/web/ui/dist``), served without a token so the login page loads: the wall
at ``/`` and the workers' field app at ``/m/``, two pages of one build.

The directory is looked up per request: the UI can be (re)built while the hub runs.
"""

from __future__ import annotations

import errno
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from hub.errors import NotFoundError

DEFAULT_UI_DIR = Path(__file__).parent / "ui" / "dist"

_NOT_BUILT = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>指挥中心 Hub: UI not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>界面尚未构建 / The wall UI is not built</h1>
<p>The API is running. Build the UI with <code>make ui</code>
(or <code>cd hub/web/ui &amp;&amp; npm install &amp;&amp; npm run build</code>) and reload.</p>
<p>Looked for <code>{path}</code>.</p>
</body></html>
"""

# Paths the SPA fallback must never answer: they belong to the API.
_RESERVED = ("api", "metrics")
FIELD_APP = "m"
"""The field app's path prefix: its client-side routes load ``m/index.html``."""


def _inside(root: Path, rel: str) -> Path | None:
    # No file name holds a NUL: the OS calls below would refuse it with ValueError.
    if "\x00" in rel:
        return None
    try:
        root = root.resolve()
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
    except OSError as exc:
        # A name longer than the file system allows names no file; any other error is real.
        if exc.errno == errno.ENAMETOOLONG:
            return None
        raise
    return path


def ui_router(ui_dir: Path = DEFAULT_UI_DIR) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def index(app: str = "") -> Response:
        page = ui_dir / app / "index.html"
        if not page.is_file():
            return HTMLResponse(_NOT_BUILT.format(path=page), status_code=503)
        # index.html names the hashed assets: never cache it.
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    @router.get("/")
    async def root() -> Response:
        return index()

    @router.get("/assets/{path:path}")
    async def assets(path: str) -> Response:
        found = _inside(ui_dir / "assets", path)
        if found is None:
            raise NotFoundError(f"no asset {path!r}")
        # Vite puts a content hash in every asset name.
        return FileResponse(found, headers={"Cache-Control": "public, max-age=31536000, immutable"})

    @router.get("/{path:path}")
    async def other(request: Request, path: str) -> Response:
        if path.split("/", 1)[0] in _RESERVED:
            raise NotFoundError(f"no resource {request.url.path}")
        found = _inside(ui_dir, path)
        if found is not None:
            return FileResponse(found)
        # A path no file can have is not a client-side route either.
        if "." not in path.rsplit("/", 1)[-1] and "\x00" not in path:
            # A client-side route of one of the single-page apps.
            return index(FIELD_APP if path.split("/", 1)[0] == FIELD_APP else "")
        raise NotFoundError(f"no file {path!r}")

    return router
