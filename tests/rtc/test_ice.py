"""TURN credentials as coturn's use-auth-secret checks them, and the deployment that uses them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import yaml

from hub.rtc.ice import ice_servers, turn_credential

REPO = Path(__file__).resolve().parents[2]


def test_credential_is_coturns_rest_api_format() -> None:
    username, password = turn_credential("s3cret", "w1", 3600, now=1_800_000_000)
    assert username == "1800003600:w1"
    expected = hmac.new(b"s3cret", b"1800003600:w1", hashlib.sha1).digest()
    assert base64.b64decode(password) == expected


def test_ice_servers_hold_no_turn_without_a_secret_and_never_the_secret() -> None:
    assert ice_servers(stun=[], turn=["turn:x:3478"], secret="", user="w1", ttl=60) == []
    servers = ice_servers(
        stun=["stun:x:3478"], turn=["turn:x:3478"], secret="s3cret-s3cret", user="w1", ttl=60
    )
    assert [s.urls for s in servers] == [["stun:x:3478"], ["turn:x:3478"]]
    assert "s3cret" not in str([s.model_dump() for s in servers])


def test_compose_runs_coturn_with_the_hubs_secret_and_no_private_relays() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    coturn = compose["services"]["coturn"]
    assert any("static-auth-secret=${TURN_SECRET}" in part for part in coturn["command"])
    assert compose["services"]["hub"]["environment"]["HUB_TURN_SECRET"].startswith("${TURN_SECRET")
    conf = (REPO / "deploy" / "coturn" / "turnserver.conf").read_text(encoding="utf-8")
    assert "use-auth-secret" in conf.splitlines()
    for private in ("10.0.0.0-", "172.16.0.0-", "192.168.0.0-", "127.0.0.0-"):
        assert f"denied-peer-ip={private}" in conf
