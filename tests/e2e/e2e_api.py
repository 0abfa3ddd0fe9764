"""The hub's HTTP API as the browser tests call it beside the page: a token, a JSON call, one
case step with the version it saw (read again on 409)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

BUSY_TRIES = 5


def api(hub: Any, method: str, path: str, token: str, body: Any = None) -> Any:
    """One call; a 503 (the store busy) is tried again after its Retry-After, as the hub asks
    every client to."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(BUSY_TRIES):
        req = urllib.request.Request(hub.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
            return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code == 503 and attempt < BUSY_TRIES - 1:
                time.sleep(float(exc.headers.get("Retry-After") or 1))
                continue
            # Keep the problem detail in the failure, and the status for callers that expect one.
            exc.msg = f"{exc.msg}: {exc.read()[:500]!r}"
            raise
    raise AssertionError("unreachable")


def token(hub: Any, username: str, password: str) -> str:
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "grant_type": "password"}
    ).encode()
    with urllib.request.urlopen(hub.url + "/api/auth/token", data=form, timeout=30) as r:
        return str(json.loads(r.read())["access_token"])


def act(
    hub: Any,
    tok: str,
    case_id: int | str,
    action: str,
    version: int = 0,
    only_from: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any] | None:
    """One step as the API's caller takes it: with the version it saw (read first when not
    given), read again on 409 (the system took a step or changed its light meanwhile).
    With `only_from`, a case found in another state is left as it is (None)."""
    detail = ""
    for _ in range(5):
        if not version:
            case = api(hub, "GET", f"/api/cases/{case_id}", tok)
            if only_from and case["state"] not in only_from:
                return None
            version = case["version"]
        body = {"action": action, "version": version, **extra}
        try:
            return dict(api(hub, "POST", f"/api/cases/{case_id}/actions", tok, body))
        except urllib.error.HTTPError as exc:
            detail = str(exc)
            if exc.code != 409:
                raise AssertionError(f"{action} on case {case_id}: {detail}") from exc
            version = 0
    raise AssertionError(f"{action} on case {case_id} kept conflicting: {detail}")


def add_user(hub: Any, username: str, role: str, password: str) -> None:
    """An account made as an installer would (`hub users add`); there already (the demo's, or an
    earlier test's): its password set to the one given."""
    env = {**os.environ, "HUB_DATA_DIR": str(hub.data_dir)}
    made = subprocess.run(
        [sys.executable, "-m", "hub", "users", "add", username, "--role", role,
         "--password", password],
        env=env, check=False, capture_output=True, timeout=60,
    )  # fmt: skip
    if made.returncode != 0:
        subprocess.run(
            [sys.executable, "-m", "hub", "users", "passwd", username, "--password", password],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip


def site_worker(site: Path) -> tuple[str, str]:
    """A grid worker of the site file and a grid they own."""
    doc = yaml.safe_load(site.read_text(encoding="utf-8"))
    for w in doc.get("workers") or []:
        if w.get("grids"):
            return str(w["username"]), str(w["grids"][0])
    raise AssertionError("the demo site lists no grid workers")
