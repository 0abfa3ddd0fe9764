"""Settings from the environment (``HUB_...``): endpoints, secrets and tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Endpoints, secrets and tuning. Every field can be set as ``HUB_<NAME>``."""

    # Errors must not echo a value: it may be a secret (HUB_JWT_SECRET, HUB_MQTT_URL).
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", hide_input_in_errors=True)

    site: Path = Path("sites/demo-district.yaml")
    data_dir: Path = Path("var")
    # Secrets and URLs that may hold passwords stay out of repr() (and so out of any log).
    database_url: str = Field(default="", repr=False)  # empty: SQLite file in data_dir
    bus: Literal["memory", "redis"] = "memory"
    """The bus backend (hub/bus/factory.py): ``memory`` runs everything in this process;
    ``redis`` (Redis Streams at ``redis_url``) joins it to the other processes of a cluster."""
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", repr=False)
    bus_prefix: str = Field(default="hub", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Names the bus's keys in Redis (``{prefix}:{topic}:{partition}``): two hubs can share
    one Redis with different prefixes."""
    bus_partitions: int = Field(default=8, ge=1, le=256)
    """Streams per keyed topic: how many members of a consumer group can share it. The same in
    every process (checked at start)."""
    role: Literal["all", "api", "video", "devices"] = "all"
    """What this process runs (``hub serve --role``): ``all`` is the whole hub in one process;
    ``video`` a video worker of a cluster (hub/cluster/video_worker.py), analysing the cameras
    it holds leases on; ``api`` the hub without cameras (their health from the video workers
    over the bus: hub/cluster/remote_video.py); ``devices`` an MQTT ingest process
    (hub/cluster/ingest_process.py), one of several sharing a broker's messages."""
    camera_lease_seconds: float = Field(default=8.0, ge=2.0, le=120.0)
    """A video worker's hold on a camera: when the worker dies, its cameras move to the others
    after about this long (plus one heartbeat's worth)."""
    bus_member_ttl_seconds: float = Field(default=10.0, ge=3.0, le=300.0)
    """A group member not heard from this long is dead: its partitions, and the messages it
    took and never acknowledged, go to the others."""
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: str = Field(default="", repr=False)
    """Signs the API tokens; at least 32 bytes. Empty: generated once into data_dir/jwt.secret."""
    token_minutes: int = Field(default=12 * 60, ge=1, le=7 * 24 * 60)
    trusted_proxies: str = ""
    """Comma-separated addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For and
    X-Forwarded-Proto are believed; empty: none, the peer address is the client."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body on ordinary routes; larger ones get 413 before any handler runs."""
    max_header_bytes: int = Field(default=32 * 1024, ge=4096)
    """Largest request line plus headers; larger ones get 431 while they are still arriving."""
    timezone: str = "Asia/Shanghai"
    analytics_threads: int = 1
    detector_share: float = Field(default=0.6, gt=0.0, le=1.0)
    """Fraction of each analytics thread's time the person detector may take. Under load the
    cameras are looked at less often (fairly: the longest-waiting first) instead of frames
    queueing behind the detector; ``hub_detector_looks_deferred`` counts the put-off looks."""
    analytics_batch_max: int = 64
    frame_queue_per_camera: int = 2
    stall_seconds: float = 10.0
    max_lag_seconds: float = Field(default=2.0, gt=0.0)
    """A live camera read further than this behind its own clock (a backlog in the socket
    buffers: decoding could not keep up) is not decoded until a keyframe near the live edge;
    ``hub_camera_frames_skipped_late_total`` counts what was skipped."""
    reconnect_min_seconds: float = 0.5
    reconnect_max_seconds: float = 10.0
    whip_max_sessions: int = Field(default=64, ge=1, le=4096)
    """WHIP sessions (publishing drones and vehicles) open at once, connecting or connected."""
    whip_connect_seconds: float = Field(default=15.0, gt=0.0)
    """A WHIP session whose peer has not connected this long after its offer is reaped."""
    whip_idle_seconds: float = Field(default=30.0, gt=0.0)
    """A connected WHIP session that has sent no video this long is reaped."""
    offers_per_minute: int = Field(default=30, ge=1, le=10_000)
    """SDP offers one WHIP unit, or one participant of a call, may send a minute (bursts up to
    the same number); 429 with Retry-After beyond."""
    whip_max_offer_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    """The largest SDP offer accepted (a real one is 2-8 KiB)."""
    stun_urls: list[str] = Field(default_factory=list)
    """STUN servers handed to call participants (``stun:host:3478``); empty: none (loopback and
    LAN need none)."""
    turn_urls: list[str] = Field(default_factory=list)
    """TURN servers (coturn with ``use-auth-secret``) handed to call participants, e.g.
    ``["turn:turn.example.cn:3478?transport=udp", "turns:turn.example.cn:5349?transport=tcp"]``."""
    turn_secret: str = Field(default="", repr=False)
    """coturn's ``static-auth-secret``: the hub mints time-limited TURN credentials with it."""
    turn_credential_seconds: int = Field(default=3600, ge=60, le=86_400)
    """Lifetime of a minted TURN credential."""
    call_max_participants: int = Field(default=6, ge=2, le=16)
    call_ring_seconds: float = Field(default=60.0, gt=0.0)
    """A call nobody answered this long ends ("no answer")."""
    call_rejoin_seconds: float = Field(default=30.0, gt=0.0)
    """A participant whose connections failed and who did not come back this long has left."""
    call_connect_seconds: float = Field(default=15.0, gt=0.0)
    """A call peer connection not connected this long after its offer is reaped."""
    call_max_calls: int = Field(default=32, ge=1, le=1024)
    """Calls running at once (503 beyond)."""
    call_recording: bool = True
    """Record the calls about a case (each stream to a file under ``data_dir/recordings``) and
    attach the files to the case as evidence."""
    call_recording_max_mb: int = Field(default=1024, ge=1, le=65536)
    """A stream's recording stops growing at this size (about 2 h of a 1 Mbit/s camera)."""
    clips: bool = True
    """Cut an evidence clip (MP4, stream copy) around every detection event."""
    clip_pre_seconds: float = Field(default=5.0, ge=0.0, le=60.0)
    """Seconds of video before an event's start in its clip (from the keyframe before them)."""
    clip_post_seconds: float = Field(default=5.0, ge=0.0, le=120.0)
    """Seconds of video after an event's start in its clip."""
    clip_ring_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024)
    """Per camera: the most packet bytes kept for pre-roll, and the most one clip may hold."""
    evidence_max_bytes: int = Field(default=20 * 1024**3, ge=1024 * 1024)
    """Disk budget of the evidence directory (snapshots and clips); oldest files go first."""
    evidence_max_age_days: float = Field(default=30.0, gt=0.0)
    """Snapshots and clips older than this are removed."""
    evidence_sweep_seconds: float = Field(default=60.0, ge=1.0)
    """How often retention checks the evidence directory."""
    mqtt_url: str = Field(default="", repr=False)
    """mqtt://host:port of an external broker; empty: the hub starts its own (embedded)."""
    mqtt_embedded_port: int = 1884
    mqtt_username: str = "hub"
    mqtt_password: str = Field(default="", repr=False)
    """Empty: generated once into data_dir/mqtt.secret."""
    mqtt_max_payload: int = 64 * 1024
    mqtt_password_file: str = ""
    """External broker only: the Mosquitto password file the hub maintains (operator-mounted);
    empty: provisioning returns credentials for the operator to install."""
    mqtt_acl_file: str = ""
    """External broker only: the Mosquitto ACL file the hub writes next to the password file."""
    mqtt_client_id: str = ""
    """The ingest's MQTT client id, under which a broker that does not tie client ids to
    usernames keeps its session; empty: ``hub-ingest-`` and a tag derived from the hub's MQTT
    password, which no device can guess (and so cannot take the session over with)."""
    mqtt_ingest: bool = True
    """Run MQTT device ingest in this hub process."""
    ingest_elsewhere: bool = False
    """The MQTT ingest runs in ``hub serve --role devices`` processes: this process keeps the
    broker (when embedded), the device accounts, presence (followed from the bus) and the rules,
    but reads no MQTT messages itself."""
    ingest_accounts: list[str] = Field(default_factory=list, max_length=64)
    """Broker accounts for the ``hub serve --role devices`` processes (one each: one connection
    per account), written with the hub's MQTT password (the ``$share`` group derives from it) by
    the process that keeps the broker's accounts, at its start. JSON list in the environment:
    ``HUB_INGEST_ACCOUNTS='["ingest-1", "ingest-2"]'``."""
    mqtt_shared_subscriptions: bool | None = None
    """Subscribe through ``$share/<group>/...`` (the group derived from the hub's MQTT password)
    so several ingest processes split the load.
    None (default): on with the embedded Mosquitto, which keeps devices out after each start
    until the ingest has subscribed again (Mosquitto 2.0 does not persist ``$share``
    subscriptions, so what is published before that finds no subscriber); off with an external
    broker, where a broker restart would drop that window's messages (docs/mqtt.md)."""
    telemetry_raw_days: float = 7.0
    """Raw telemetry older than this is folded into 1-minute and 1-hour rollups, then deleted."""
    telemetry_minute_days: float = 90.0
    telemetry_hour_days: float = 730.0
    open311_keys: dict[str, str] = Field(default_factory=dict, repr=False)
    """Open311 GeoReport v2 API keys as JSON, key -> client name (the citizen app or portal that
    holds it): ``HUB_OPEN311_KEYS='{"<key of 16+ characters>": "wechat-miniapp"}'``. Empty: the
    citizen report endpoint refuses every request. Keys are secrets: never logged or returned."""
    open311_per_minute: int = Field(default=30, ge=1, le=10_000)
    """Citizen reports each Open311 key may post per minute."""
    log_json: bool | None = None  # None: JSON when stderr is not a TTY
    log_level: str = "INFO"

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, v: str) -> str:
        if v and len(v.encode()) < 32:
            raise ValueError("HUB_JWT_SECRET must be at least 32 bytes (or empty: generated)")
        return v

    @field_validator("open311_keys")
    @classmethod
    def _open311_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for key, client in v.items():
            if not 16 <= len(key) <= 128 or not key.isascii() or not key.isprintable():
                # Never name the key itself: it is a secret.
                raise ValueError(
                    f"HUB_OPEN311_KEYS: the key of client {client[:64]!r} must be 16-128"
                    " printable ASCII characters"
                )
            if not 1 <= len(client) <= 48 or not client.isprintable():
                raise ValueError("HUB_OPEN311_KEYS: client names must be 1-48 printable characters")
        return v

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hub.db').resolve()}"
