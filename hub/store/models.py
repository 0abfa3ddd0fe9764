"""Tables of the hub. The schema itself is owned by the Alembic migrations; these mappings must
agree with them (tests/store/test_migrations.py compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no offset, so values are normalised to UTC before they are written and the
    offset is put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only makes an INTEGER PRIMARY KEY an alias of the rowid; BIGINT would not autoincrement.
SeqInt = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    # Names the migrations use too, so constraints can be found and altered later.
    metadata = MetaData(
        naming_convention={
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped whenever the user's sessions must end; tokens carry the version they were issued
    under and are refused once it moved on."""


class EventRow(Base):
    """One DetectionEvent. ``seq`` orders events as they were recorded (monotonic)."""

    __tablename__ = "detection_events"
    __table_args__ = (
        Index("ix_detection_events_camera_start", "camera_id", "start"),
        Index("ix_detection_events_type_start", "type", "start"),
        {"sqlite_autoincrement": True},  # never reuse a seq, even after deletes
    )

    seq: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    id: Mapped[UUID] = mapped_column(Uuid, unique=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    grid_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    zone_id: Mapped[str | None] = mapped_column(String(64))
    line_id: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str | None] = mapped_column(String(16))
    track_id: Mapped[int] = mapped_column(BigInteger)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    media_time: Mapped[float] = mapped_column(Float)
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float)
    snapshot: Mapped[str | None] = mapped_column(String(512))
    dwell_seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    clip: Mapped[str | None] = mapped_column(String(512))  # migration 0010
    evidence_expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    object_kind: Mapped[str | None] = mapped_column(String(16))  # migration 0011
    count: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str | None] = mapped_column(String(32))
    lon: Mapped[float | None] = mapped_column(Float)  # migration 0014
    lat: Mapped[float | None] = mapped_column(Float)
    fence: Mapped[int | None] = mapped_column(Integer)  # migration 0015


# ---------------------------------------------------------------------------------------------
# Devices (migration 0002): provisioned devices, presence, telemetry history, dead letters.
# Telemetry times are float epoch seconds: bucket arithmetic stays portable across backends.
# ---------------------------------------------------------------------------------------------


class DeviceRow(Base):
    """A device provisioned through the API (site-file devices live in the site file)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    profile: Mapped[str] = mapped_column(String(64))
    grid: Mapped[str] = mapped_column(String(64))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceStateRow(Base):
    """Presence and last values of every device that ever reported (site or API)."""

    __tablename__ = "device_state"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16))
    session: Mapped[str | None] = mapped_column(String(128))
    session_ts: Mapped[float | None] = mapped_column(Float)
    changed_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float | None] = mapped_column(Float)
    last_values: Mapped[dict[str, Any]] = mapped_column(JSON)


class TelemetryRow(Base):
    """One value of one key at one time (raw history, kept ``telemetry_raw_days``)."""

    __tablename__ = "telemetry"
    __table_args__ = (
        Index("ix_telemetry_device_key_ts", "device_id", "key", "ts"),
        # Maintenance folds the oldest rows first: without it each fold pass scans the table.
        Index("ix_telemetry_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Float)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    value: Mapped[float | None] = mapped_column(Float)
    """Numbers, and booleans as 0/1."""
    text: Mapped[str | None] = mapped_column(String(256))
    """String values."""


class TelemetryRollupRow(Base):
    """min/max/avg of a key over one bucket (``resolution`` seconds: 60 or 3600)."""

    __tablename__ = "telemetry_rollups"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    resolution: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[float] = mapped_column(Float, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)


class DeadLetterRow(Base):
    """A sample of rejected MQTT messages (every rejection is counted; only a sample is kept)."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_reason_id", "reason", "id"),
        Index("ix_dead_letters_device_id", "device_id", "id"),
    )

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(256))
    detail: Mapped[str] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(String(1024))


class AlarmRow(Base):
    """An alarm raised by a device's rule (see hub.alarms). Device details and linked
    cameras are copied in when it is created, so it reads the same after the device changes."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_device_rule", "device_id", "rule_id", "state"),
        Index("ix_alarms_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    device_name: Mapped[str] = mapped_column(String(128))
    profile: Mapped[str] = mapped_column(String(64))
    grid_id: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_name: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    key: Mapped[str | None] = mapped_column(String(64))
    last_ts: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    assignee: Mapped[str | None] = mapped_column(String(64))
    cameras: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class AlarmChangeRow(Base):
    """One entry of an alarm's timeline: created, severity, acked, assigned, cleared."""

    __tablename__ = "alarm_changes"
    __table_args__ = (Index("ix_alarm_changes_alarm_id", "alarm_id", "id"),)

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class RuleStateRow(Base):
    """The rule engine's state of one device x rule, so a restart resumes where it stopped."""

    __tablename__ = "alarm_rule_state"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)


class CaseRow(Base):
    """A case (案件) of the closed loop: where, what, whose, how far and how late (see
    hub.dispatch). ``version`` grows with every change: an update naming an older one is
    refused, so a concurrent edit is never lost."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_state_id", "state", "id"),
        Index("ix_cases_assignee_state", "assignee", "state"),
        Index("ix_cases_grid_state", "grid_id", "state"),
        Index("ix_cases_fusion", "category", "state", "last_evidence_at"),
        Index("ix_cases_created_at", "created_at"),
        Index("ix_cases_pending_id", "pending", "id"),
        Index("ix_cases_reporter", "reporter"),
    )

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000))
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    pending: Mapped[str | None] = mapped_column(String(16))
    grid_id: Mapped[str | None] = mapped_column(String(64))
    community_id: Mapped[str | None] = mapped_column(String(64))
    street_id: Mapped[str | None] = mapped_column(String(64))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(64))
    reporter: Mapped[str] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    yellow_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stage: Mapped[str | None] = mapped_column(String(16))
    stage_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stage_yellow_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stage_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    light: Mapped[str] = mapped_column(String(8))
    escalation: Mapped[int] = mapped_column(Integer)
    evidence_count: Mapped[int] = mapped_column(Integer)
    last_evidence_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating: Mapped[int | None] = mapped_column(Integer)
    rework_count: Mapped[int] = mapped_column(Integer)


class CaseTimelineRow(Base):
    """One entry of a case's timeline, written in the transaction of the change it records."""

    __tablename__ = "case_timeline"
    __table_args__ = (Index("ix_case_timeline_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class CaseEvidenceRow(Base):
    """What a case rests on: detections, alarms, photos, notes. (case, kind, ref) is unique, so
    a repeated alarm or a redelivered detection is one piece of evidence."""

    __tablename__ = "case_evidence"
    __table_args__ = (Index("ix_case_evidence_ref", "kind", "ref", "case_id", unique=True),)

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class PhotoRow(Base):
    """A photo uploaded as evidence; the file is ``<data_dir>/photos/<id>.jpg``."""

    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    uploader: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)


class WorkerStateRow(Base):
    """A grid worker's duty and last known place, from the field app's reports."""

    __tablename__ = "worker_state"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_duty: Mapped[bool] = mapped_column(Boolean)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)


class WorkerPositionRow(Base):
    """One GPS fix of a worker on duty (活动轨迹)."""

    __tablename__ = "worker_positions"
    __table_args__ = (Index("ix_worker_positions_user_ts", "username", "ts"),)

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)


class UnitPositionRow(Base):
    """One telemetry report of a drone or camera vehicle (its flight track)."""

    __tablename__ = "unit_positions"
    __table_args__ = (Index("ix_unit_positions_unit_ts", "unit_id", "ts"),)

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    alt_m: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    battery_pct: Mapped[float | None] = mapped_column(Float)


class CasePartRow(Base):
    """One department's part of a co-dispatched case (联合派遣): its own state, assignee and
    stamps; every change of it bumps the case's version and goes on the case's timeline (see
    hub.dispatch.parts)."""

    __tablename__ = "case_parts"
    __table_args__ = (
        Index("ix_case_parts_case_id", "case_id", "id"),
        Index("ix_case_parts_assignee_case", "assignee", "case_id"),
    )

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger)
    department: Mapped[str] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    feedback: Mapped[str | None] = mapped_column(String(2000))
    photos: Mapped[list[str]] = mapped_column(JSON)
    rework_count: Mapped[int] = mapped_column(Integer)
    dispatched_by: Mapped[str] = mapped_column(String(64))
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WallLayoutRow(Base):
    """A saved wall layout (预案): its name and the typed body (``hub.wall.models.LayoutIn``)."""

    __tablename__ = "wall_layouts"

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WallTourRow(Base):
    """A saved wall tour (轮巡): its name and the typed body (``hub.wall.models.TourIn``)."""

    __tablename__ = "wall_tours"

    id: Mapped[int] = mapped_column(SeqInt, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
