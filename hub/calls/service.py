"""Dispatch calls: rooms of up to ``call_max_participants`` people and the feeds shared into them.

A call starts from the wall (usually from a case: ``case_id``) and rings its invitees' field
apps (``CALLS`` on the bus; the WebSocket fan-out delivers it). Each participant who joins gets
a token scoped to that call and the ICE servers (TURN credentials minted for them), publishes
their camera and microphone on one peer connection and subscribes to each other stream on one
more (``hub.calls.peers``). Media is forwarded encoded (``hub.calls.sfu``): nothing is decoded or
re-encoded. An operator may share a street camera or a drone into the call as a stream; its
H.264 comes from the camera's ingest (``PacketSource``), as it is.

A participant whose connections fail is ``reconnecting`` and may publish and subscribe again
(new connections, the same streams: the others see them resume) for ``call_rejoin_seconds``;
after that they have left. A call ends when its last participant leaves, when an operator or
its creator ends it, or when nobody answered it within ``call_ring_seconds``. Everything a call
holds (peer connections, forwarding tracks, camera listeners, tokens) is released when it ends,
and a reaper closes peer connections that never connect.

State lives in memory: a call does not survive a restart of the hub (its media could not
either). What must last, the case timeline, is written by dispatch from ``CALLS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from aiortc import RTCConfiguration, RTCPeerConnection
from prometheus_client import Counter, Gauge, Histogram

from hub.aio import cancel_and_wait
from hub.bus import Bus
from hub.bus.contracts import (
    CALLS,
    Call,
    CallAction,
    CallChange,
    CallParticipant,
    CallRecording,
    CallState,
    CallStream,
    ParticipantState,
    StreamKind,
)
from hub.calls.peers import CLOCK, Peer, answer_publish, answer_subscribe, choose_codecs
from hub.calls.recording import CallRecorder, RecordingWriter
from hub.calls.sfu import PublishedTrack
from hub.config import Settings, Site
from hub.errors import (
    AuthError,
    BusyError,
    ConflictError,
    ForbiddenError,
    HubError,
    NotFoundError,
)
from hub.ratelimit import RateLimiter
from hub.rtc.ice import IceServer, ice_servers
from hub.rtc.sdp import MediaError, check_offer

log = logging.getLogger(__name__)

CALLS_RUNNING = Gauge("hub_calls_running", "Dispatch calls not ended")
CALL_PEERS = Gauge("hub_call_peers", "Call peer connections open (publish and subscribe)")
CALLS_ENDED = Counter("hub_calls_ended_total", "Dispatch calls ended, by reason", ["reason"])
PEERS_REAPED = Counter("hub_call_peers_reaped_total", "Call peer connections reaped, by reason",
                       ["reason"])  # fmt: skip
SIGNAL_SECONDS = Histogram(
    "hub_call_signal_seconds",
    "Offer to answer on the hub (publish or subscribe)",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

MANAGERS = frozenset({"admin", "operator", "supervisor"})
"""Roles that may start calls, join any call, share feeds and end calls."""
MAX_OFFER_BYTES = 32 * 1024
REAP_INTERVAL = 1.0


class CallRequestError(HubError):
    status = 422
    title = "Invalid call"


@runtime_checkable
class PacketSource(Protocol):
    """The video service's side of a shared feed (``CameraService.share_packets``)."""

    def share_packets(
        self, camera_id: str, listener: Callable[[bytes, int, bool], None]
    ) -> Callable[[], None]: ...


class UserInfo(Protocol):
    """Who a username is (name and role): the store's users, seen narrowly."""

    async def __call__(self, username: str) -> tuple[str, str] | None: ...


@dataclass(eq=False)
class _Stream:
    info: CallStream
    tracks: dict[str, PublishedTrack]
    stop: Callable[[], None] | None = None
    """Ends a shared feed's packet listener."""


@dataclass(eq=False)
class _Member:
    username: str
    name: str
    role: str
    state: ParticipantState = "invited"
    joined_at: datetime | None = None
    left_at: datetime | None = None
    token_hash: str | None = None
    publish: Peer | None = None
    subscriptions: dict[str, Peer] = field(default_factory=dict)
    """By stream id."""
    reconnecting_since: float | None = None

    def out(self) -> CallParticipant:
        return CallParticipant(
            username=self.username,
            name=self.name,
            role=self.role,
            state=self.state,
            joined_at=self.joined_at,
            left_at=self.left_at,
        )

    def peers(self) -> list[Peer]:
        return ([self.publish] if self.publish else []) + list(self.subscriptions.values())


@dataclass(eq=False)
class _Room:
    id: str
    case_id: int | None
    title: str
    created_by: str
    created_at: datetime
    created_mono: float = field(default_factory=time.monotonic)
    state: CallState = "ringing"
    ended_at: datetime | None = None
    end_reason: str | None = None
    members: dict[str, _Member] = field(default_factory=dict)
    streams: dict[str, _Stream] = field(default_factory=dict)
    recorder: CallRecorder | None = None
    recordings: list[CallRecording] = field(default_factory=list)

    def out(self) -> Call:
        return Call(
            id=self.id,
            case_id=self.case_id,
            title=self.title,
            state=self.state,
            created_by=self.created_by,
            created_at=self.created_at,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            participants=[m.out() for m in self.members.values()],
            streams=[s.info for s in self.streams.values()],
            recordings=self.recordings,
        )

    def present(self) -> list[_Member]:
        return [m for m in self.members.values() if m.state in ("joined", "reconnecting")]


@dataclass(frozen=True)
class Joined:
    call: Call
    token: str
    """Scoped to this call and participant: publish, subscribe, leave. Ends when they leave."""
    ice_servers: list[IceServer]


@dataclass
class _Signal:
    answer: str
    location: str


class CallService:
    def __init__(
        self,
        settings: Settings,
        site: Site,
        bus: Bus,
        users: UserInfo,
        *,
        video: PacketSource | None = None,
        case_exists: Callable[[int], Awaitable[bool]] | None = None,
        recordings: RecordingWriter | None = None,
    ) -> None:
        self.settings = settings
        self.site = site
        self.bus = bus
        self.users = users
        self.video = video
        self.case_exists = case_exists
        self.recordings = recordings
        """Where a case's calls are recorded; None: they are not."""
        self._rooms: dict[str, _Room] = {}
        self._tokens: dict[str, tuple[str, str]] = {}
        """sha256(token) -> (call id, username)."""
        self._reaper: asyncio.Task[None] | None = None
        self._offers = RateLimiter(settings.offers_per_minute)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._reaper = asyncio.create_task(self._reap_loop(), name="calls-reaper")

    async def stop(self) -> None:
        await cancel_and_wait([self._reaper])
        for room in list(self._rooms.values()):
            if room.state != "ended":
                await self._end(room, "hub stopping", None)

    # -- reading -----------------------------------------------------------------------------

    def calls(self, *, username: str, role: str) -> list[Call]:
        """Running calls the user may see: all of them for the wall's roles, else their own."""
        return [r.out() for r in self._rooms.values() if r.state != "ended"
                and (role in MANAGERS or username in r.members)]  # fmt: skip

    def get(self, call_id: str, *, username: str, role: str) -> Call:
        return self._visible(call_id, username, role).out()

    def _visible(self, call_id: str, username: str, role: str) -> _Room:
        room = self._rooms.get(call_id)
        if room is None or (role not in MANAGERS and username not in room.members):
            raise NotFoundError("no such call")
        return room

    def _running(self, call_id: str, username: str, role: str) -> _Room:
        room = self._visible(call_id, username, role)
        if room.state == "ended":
            raise ConflictError("the call has ended")
        return room

    # -- the call ----------------------------------------------------------------------------

    async def create(
        self,
        *,
        creator: str,
        role: str,
        invite: list[str],
        case_id: int | None = None,
        title: str | None = None,
    ) -> Call:
        if role not in MANAGERS:
            raise ForbiddenError("only the command center starts calls")
        if len([r for r in self._rooms.values() if r.state != "ended"]) >= (
            self.settings.call_max_calls
        ):
            raise BusyError("too many calls running", retry_after=10)
        names = list(dict.fromkeys(u for u in invite if u != creator))
        if not names:
            raise CallRequestError("invite at least one person")
        if len(names) + 1 > self.settings.call_max_participants:
            raise CallRequestError(
                f"a call holds at most {self.settings.call_max_participants} people"
            )
        if (
            case_id is not None
            and self.case_exists is not None
            and not await self.case_exists(case_id)
        ):
            raise NotFoundError(f"no case {case_id}")
        members: dict[str, _Member] = {}
        for username in [creator, *names]:
            who = await self.users(username)
            if who is None or who[1] == "device":
                raise NotFoundError(f"no user {username!r} to call")
            members[username] = _Member(username, who[0], who[1])
        now = datetime.now(UTC)
        room = _Room(
            id=secrets.token_urlsafe(12),
            case_id=case_id,
            title=title or (f"案件 Case {case_id}" if case_id is not None else "调度通话 Call"),
            created_by=creator,
            created_at=now,
            members=members,
        )
        if case_id is not None and self.recordings is not None:
            if await asyncio.to_thread(self.recordings.room_on_disk):
                room.recorder = CallRecorder(self.recordings)
            else:
                log.warning("call %s… is not recorded: the disk is nearly full", room.id[:6])
        self._rooms[room.id] = room
        self._forget_ended()
        CALLS_RUNNING.set(self._running_count())
        await self._announce(room, "created", creator)
        log.info("call %s… created by %s (case %s)", room.id[:6], creator, case_id)
        return room.out()

    async def join(self, call_id: str, *, username: str, role: str) -> Joined:
        room = self._running(call_id, username, role)
        member = room.members.get(username)
        if member is None:
            # The wall's roles may join any call (a supervisor listening in, another operator).
            if len(room.members) >= self.settings.call_max_participants:
                raise ConflictError("the call is full")
            who = await self.users(username)
            if who is None:
                raise NotFoundError(f"no user {username!r}")
            member = room.members[username] = _Member(username, who[0], who[1])
        if member.token_hash is not None:
            self._tokens.pop(member.token_hash, None)  # one token per participant
        token = secrets.token_urlsafe(24)
        member.token_hash = _hash(token)
        self._tokens[member.token_hash] = (room.id, username)
        if member.state != "joined":
            member.state = "joined"
            member.joined_at = datetime.now(UTC)
            member.left_at = None
            member.reconnecting_since = None
            if len(room.present()) >= 2 and room.state == "ringing":
                room.state = "active"
            await self._announce(room, "joined", username)
        s = self.settings
        servers = ice_servers(
            stun=s.stun_urls,
            turn=s.turn_urls,
            secret=s.turn_secret,
            user=username,
            ttl=s.turn_credential_seconds,
        )
        return Joined(room.out(), token, servers)

    async def decline(self, call_id: str, *, username: str, role: str) -> Call:
        room = self._running(call_id, username, role)
        member = room.members.get(username)
        if member is None or member.state != "invited":
            raise ConflictError("only an invitee who has not joined may decline")
        member.state = "declined"
        await self._announce(room, "declined", username)
        others = [m for m in room.members.values() if m.username != room.created_by]
        if not any(m.state in ("invited", "joined", "reconnecting") for m in others):
            await self._end(room, "declined", username)
        return room.out()

    async def leave(self, call_id: str, *, username: str) -> None:
        room = self._rooms.get(call_id)
        member = room.members.get(username) if room else None
        if room is None or member is None or room.state == "ended":
            return
        await self._leave(room, member, username)

    async def leave_all(self, username: str) -> None:
        """The user's sessions ended (logout, disabled, new password): out of every call."""
        for room in list(self._rooms.values()):
            member = room.members.get(username)
            if (
                room.state != "ended"
                and member is not None
                and member.state
                in (
                    "joined",
                    "reconnecting",
                )
            ):
                await self._leave(room, member, username)

    async def end(self, call_id: str, *, username: str, role: str) -> Call:
        room = self._running(call_id, username, role)
        if role not in MANAGERS and username != room.created_by:
            raise ForbiddenError("only the command center ends a call; leave it instead")
        await self._end(room, "ended", username)
        return room.out()

    # -- feeds -------------------------------------------------------------------------------

    async def share(self, call_id: str, camera_id: str, *, username: str, role: str) -> Call:
        """Share a street camera or a drone into the call (its H.264, forwarded as it is)."""
        if role not in MANAGERS:
            raise ForbiddenError("only the command center shares feeds")
        room = self._running(call_id, username, role)
        cam = self.site.camera_by_id.get(camera_id)
        if cam is None or not cam.enabled or self.video is None:
            raise NotFoundError(f"no camera {camera_id!r} to share")
        if any(s.info.owner == camera_id for s in room.streams.values()):
            raise ConflictError("this camera is shared already")
        kind: StreamKind = "camera" if cam.kind == "fixed" else cam.kind
        track = PublishedTrack(kind="video", codec="H264", clock_rate=CLOCK["h264"])
        loop = self._loop or asyncio.get_running_loop()

        def on_packet(unit: bytes, ts: int, key: bool) -> None:  # the camera's ingest thread
            with contextlib.suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(track.on_frame, "H264", unit, ts)

        stop = self.video.share_packets(camera_id, on_packet)
        sid = secrets.token_urlsafe(9)
        room.streams[sid] = _Stream(
            CallStream(id=sid, kind=kind, owner=camera_id, label=cam.name, video="H264",
                       shared_by=username),
            {"video": track},
            stop,
        )  # fmt: skip
        self._record(room, room.streams[sid])
        await self._announce(room, "feed_shared", username, camera_id)
        return room.out()

    async def unshare(self, call_id: str, stream_id: str, *, username: str, role: str) -> Call:
        if role not in MANAGERS:
            raise ForbiddenError("only the command center removes feeds")
        room = self._running(call_id, username, role)
        stream = room.streams.get(stream_id)
        if stream is None or stream.stop is None:
            raise NotFoundError("no such shared feed")
        await self._drop_stream(room, stream_id)
        await self._announce(room, "feed_removed", username, stream.info.owner)
        return room.out()

    # -- signalling (call token) -------------------------------------------------------------

    def member_for(self, call_id: str, token: str) -> str:
        """The username a call token belongs to; AuthError unless it is this call's, live."""
        found = self._tokens.get(_hash(token))
        if found is None or found[0] != call_id:
            raise AuthError("not a token for this call")
        room = self._rooms.get(call_id)
        member = room.members.get(found[1]) if room else None
        if (
            room is None
            or member is None
            or room.state == "ended"
            or member.state
            not in (
                "joined",
                "reconnecting",
            )
        ):
            raise AuthError("not in this call")
        return found[1]

    async def publish(self, call_id: str, username: str, offer: str) -> _Signal:
        """The participant's camera and microphone: answer their offer."""
        t0 = time.perf_counter()
        room, member = self._member(call_id, username)
        self._offers.check(f"{call_id}/{username}", "offers")
        summary = check_offer(offer, max_bytes=MAX_OFFER_BYTES)
        audio, video = choose_codecs(summary)
        if audio is None and video is None:
            raise MediaError("the offer sends no audio or video")
        stream = self._own_stream(room, member)
        if stream is None:
            sid = secrets.token_urlsafe(9)
            tracks = {}
            if audio is not None:
                tracks["audio"] = PublishedTrack("audio", audio, CLOCK[audio])
            if video is not None:
                tracks["video"] = PublishedTrack("video", video, CLOCK[video.lower()])
            stream = _Stream(
                CallStream(id=sid, kind="person", owner=username, label=member.name, audio=audio,
                           video=video),
                tracks,
            )  # fmt: skip
            room.streams[sid] = stream
            self._record(room, stream)
            new = True
        else:
            # Publishing again (after a network loss): the same stream, so subscribers resume.
            for kind, codec in (("audio", audio), ("video", video)):
                t = stream.tracks.get(kind)
                if t is not None and codec is not None and t.codec.lower() != codec.lower():
                    raise MediaError(f"publish {kind} as {t.codec} again, as before")
            new = False
        old = member.publish
        peer = self._peer("publish", username, stream.info.id)
        try:
            answer = await answer_publish(peer, offer, summary, stream.tracks)
        except Exception as exc:
            await self._close_peer(peer)
            if new:
                await self._drop_stream(room, stream.info.id)
            raise _media(exc) from exc
        member.publish = peer
        if old is not None:
            await self._close_peer(old)
        self._back(member, room)
        SIGNAL_SECONDS.labels("publish").observe(time.perf_counter() - t0)
        if new:
            await self._announce(room, "published", username, stream.info.id)
        return _Signal(answer, f"/api/calls/{call_id}/peers/{peer.id}")

    async def subscribe(self, call_id: str, username: str, stream_id: str, offer: str) -> _Signal:
        t0 = time.perf_counter()
        room, member = self._member(call_id, username)
        self._offers.check(f"{call_id}/{username}", "offers")
        stream = room.streams.get(stream_id)
        if stream is None:
            raise NotFoundError("no such stream in this call")
        if stream.info.owner == username:
            raise ConflictError("that is your own stream")
        summary = check_offer(offer, max_bytes=MAX_OFFER_BYTES)
        peer = self._peer("subscribe", username, stream_id)
        try:
            answer = await answer_subscribe(peer, offer, summary, stream.tracks)
        except Exception as exc:
            await self._close_peer(peer)
            raise _media(exc) from exc
        old = member.subscriptions.get(stream_id)
        member.subscriptions[stream_id] = peer
        if old is not None:
            await self._close_peer(old)
        SIGNAL_SECONDS.labels("subscribe").observe(time.perf_counter() - t0)
        return _Signal(answer, f"/api/calls/{call_id}/peers/{peer.id}")

    async def close_peer(self, call_id: str, username: str, peer_id: str) -> None:
        _room, member = self._member(call_id, username)
        for peer in member.peers():
            if peer.id == peer_id:
                if peer is member.publish:
                    member.publish = None
                else:
                    member.subscriptions.pop(peer.stream_id, None)
                await self._close_peer(peer)
                return
        raise NotFoundError("no such connection")

    # -- internals ---------------------------------------------------------------------------

    def _member(self, call_id: str, username: str) -> tuple[_Room, _Member]:
        room = self._rooms.get(call_id)
        member = room.members.get(username) if room else None
        if room is None or member is None or room.state == "ended":
            raise NotFoundError("no such call")
        return room, member

    def _own_stream(self, room: _Room, member: _Member) -> _Stream | None:
        own = (s for s in room.streams.values() if s.info.kind == "person")
        return next((s for s in own if s.info.owner == member.username), None)

    def _peer(self, kind: str, username: str, stream_id: str) -> Peer:
        # The hub needs no STUN/TURN of its own: it is the reachable end; clients get TURN.
        peer = Peer(secrets.token_urlsafe(9), kind, username, stream_id,
                    RTCPeerConnection(RTCConfiguration(iceServers=[])))  # fmt: skip
        peer.on_state = self._peer_changed
        peer.watch()
        CALL_PEERS.inc()
        return peer

    async def _close_peer(self, peer: Peer) -> None:
        if not peer.closed:
            CALL_PEERS.dec()
            await peer.close()

    def _peer_changed(self, peer: Peer) -> None:
        for room in self._rooms.values():
            member = room.members.get(peer.participant)
            if member is None or room.state == "ended":
                continue
            if peer is member.publish or peer in member.subscriptions.values():
                if peer.failed_at is not None and member.state == "joined":
                    member.state = "reconnecting"
                    member.reconnecting_since = time.monotonic()
                    self._spawn(self._announce(room, "reconnecting", member.username))
                elif peer.connected_at is not None and peer.failed_at is None:
                    self._back(member, room)
                return

    def _back(self, member: _Member, room: _Room | None = None) -> None:
        if member.state == "reconnecting":
            member.state = "joined"
            member.reconnecting_since = None
            if room is not None:
                self._spawn(self._announce(room, "joined", member.username, "reconnected"))

    async def _leave(self, room: _Room, member: _Member, actor: str | None) -> None:
        member.state = "left"
        member.left_at = datetime.now(UTC)
        if member.token_hash is not None:
            self._tokens.pop(member.token_hash, None)
            member.token_hash = None
        for peer in member.peers():
            await self._close_peer(peer)
        member.publish = None
        member.subscriptions.clear()
        own = self._own_stream(room, member)
        if own is not None:
            await self._drop_stream(room, own.info.id)
        await self._announce(room, "left", actor or member.username)
        if not room.present():
            await self._end(room, "everyone left", actor)

    def _record(self, room: _Room, stream: _Stream) -> None:
        if room.recorder is not None:
            room.recorder.add(stream.info, stream.tracks)

    async def _drop_stream(self, room: _Room, stream_id: str) -> None:
        stream = room.streams.pop(stream_id)
        if stream.stop is not None:
            stream.stop()
        for t in stream.tracks.values():
            t.close()
        if room.recorder is not None:
            await room.recorder.remove(stream_id)
        for m in room.members.values():
            peer = m.subscriptions.pop(stream_id, None)
            if peer is not None:
                await self._close_peer(peer)

    async def _end(self, room: _Room, reason: str, actor: str | None) -> None:
        if room.state == "ended":
            return
        room.state = "ended"
        room.ended_at = datetime.now(UTC)
        room.end_reason = reason
        for stream_id in list(room.streams):
            await self._drop_stream(room, stream_id)
        for m in room.members.values():
            for peer in m.peers():
                await self._close_peer(peer)
            m.publish = None
            m.subscriptions.clear()
            if m.token_hash is not None:
                self._tokens.pop(m.token_hash, None)
                m.token_hash = None
            if m.state in ("joined", "reconnecting"):
                m.state = "left"
                m.left_at = room.ended_at
        CALLS_RUNNING.set(self._running_count())
        CALLS_ENDED.labels(_reason_label(reason)).inc()
        await self._announce(room, "ended", actor, reason)
        log.info("call %s… ended (%s)", room.id[:6], reason)
        if room.recorder is not None:
            room.recordings = await room.recorder.finish()
            room.recorder = None
            if room.recordings:
                await self._announce(room, "recorded", None)

    def _running_count(self) -> int:
        return sum(1 for r in self._rooms.values() if r.state != "ended")

    def _forget_ended(self) -> None:
        """Ended calls stay readable a while (the wall shows how they ended), then go."""
        ended = [r for r in self._rooms.values() if r.state == "ended"]
        for r in ended[: max(0, len(ended) - 100)]:
            del self._rooms[r.id]

    async def _announce(
        self, room: _Room, action: CallAction, actor: str | None, detail: str | None = None
    ) -> None:
        change = CallChange(
            call=room.out(),
            action=action,
            actor=actor,
            detail=detail,
            notify=[m.username for m in room.members.values()],
        )
        try:
            await self.bus.publish(CALLS, change)
        except Exception:
            log.exception("announcing call %s failed", room.id)

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            try:
                await self._reap(time.monotonic())
            except Exception:
                log.exception("call reaper failed")

    async def _reap(self, now: float) -> None:
        s = self.settings
        for room in list(self._rooms.values()):
            if room.state == "ended":
                continue
            late = now - room.created_mono > s.call_ring_seconds
            if room.state == "ringing" and late and len(room.present()) < 2:
                await self._end(room, "no answer", None)
                continue
            for m in list(room.members.values()):
                for peer in m.peers():
                    if peer.connected_at is None and now - peer.created > s.call_connect_seconds:
                        PEERS_REAPED.labels("never_connected").inc()
                        if peer is m.publish:
                            m.publish = None
                        else:
                            m.subscriptions.pop(peer.stream_id, None)
                        await self._close_peer(peer)
                if (
                    m.state == "reconnecting"
                    and m.reconnecting_since is not None
                    and now - m.reconnecting_since > s.call_rejoin_seconds
                ):
                    PEERS_REAPED.labels("gone").inc()
                    await self._leave(room, m, None)
                    if not room.present():  # that was the last one: the call has ended
                        break

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)

    def open_peers(self) -> int:
        return sum(len(m.peers()) for r in self._rooms.values() for m in r.members.values())


_TASKS: set[asyncio.Future[None]] = set()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _media(exc: Exception) -> Exception:
    if isinstance(exc, (MediaError, NotFoundError, ConflictError)):
        return exc
    return MediaError(f"cannot answer this offer: {type(exc).__name__}: {exc}"[:300])


def _reason_label(reason: str) -> str:
    return reason if reason in ("ended", "declined", "everyone left", "no answer") else "other"
