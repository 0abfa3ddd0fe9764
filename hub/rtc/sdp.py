"""Checks on an SDP offer before it reaches aiortc: bounded, parseable, media we can take.

aiortc parses whatever it is given and fails deep inside with whatever exception the bad line
causes (ValueError, KeyError, IndexError, struct errors...). Offers come from devices and
browsers we do not control, so they are checked here first and refused with a clear reason:
``SdpError`` (400) for an offer that is not well formed, ``MediaError`` (422) for a well-formed
offer without media the hub can take.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.sdp import SessionDescription
from starlette.requests import Request

from hub.errors import HubError

MAX_LINES = 2000
MAX_LINE_BYTES = 4096
MAX_MEDIA = 8
"""m= sections: a WHIP offer has one to three, a call offer a few more for shared feeds."""


class SdpError(HubError):
    status = 400
    title = "Malformed SDP"


class MediaError(HubError):
    status = 422
    title = "Unsupported media"


class NotSdpError(HubError):
    status = 415
    title = "Unsupported media type"


SDP = "application/sdp"


async def read_offer(request: Request) -> str:
    """An offer sent as WHIP and the call signalling send it: ``application/sdp``, UTF-8. The
    body's size is bounded before routing (``hub.web.limits``)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != SDP:
        raise NotSdpError(f"the offer must be sent as {SDP}")
    try:
        return (await request.body()).decode()
    except UnicodeDecodeError as exc:
        raise NotSdpError("the offer is not UTF-8 text") from exc


@dataclass(frozen=True)
class OfferSummary:
    """What an offer carries (per m= section kind), once it passed the checks."""

    kinds: tuple[str, ...]
    video_codecs: frozenset[str]
    audio_codecs: frozenset[str]
    directions: tuple[str | None, ...]
    ice_ufrags: tuple[str | None, ...]


def check_offer(text: str, *, max_bytes: int) -> OfferSummary:
    """Validate an offer's shape and parse it; raises SdpError or MediaError."""
    if len(text.encode()) > max_bytes:
        raise SdpError(f"offer larger than {max_bytes} bytes")
    if not text.startswith("v=0"):
        raise SdpError("not an SDP offer: it must start with v=0")
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise SdpError(f"offer has more than {MAX_LINES} lines")
    for n, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_BYTES:
            raise SdpError(f"line {n} longer than {MAX_LINE_BYTES} bytes")
        if line and (len(line) < 2 or line[1] != "=" or not line[0].isalpha()):
            raise SdpError(f"line {n} is not <type>=<value>")
        if any(ord(c) < 32 and c != "\t" for c in line):
            raise SdpError(f"line {n} has control characters")
    if sum(1 for line in lines if line.startswith("m=")) > MAX_MEDIA:
        raise SdpError(f"offer has more than {MAX_MEDIA} media sections")
    try:
        parsed = SessionDescription.parse(text)
    except Exception as exc:  # aiortc raises whatever the bad line triggers
        raise SdpError(f"offer does not parse: {type(exc).__name__}: {exc}"[:300]) from exc
    kinds: list[str] = []
    video: set[str] = set()
    audio: set[str] = set()
    for media in parsed.media:
        kinds.append(media.kind)
        names = {c.mimeType.split("/", 1)[-1].lower() for c in media.rtp.codecs}
        if media.kind == "video":
            video |= names
        elif media.kind == "audio":
            audio |= names
        elif media.kind != "application":
            raise MediaError(f"media kind {media.kind!r} is not supported")
        if media.kind != "application" and (media.dtls is None or not media.dtls.fingerprints):
            raise SdpError(f"{media.kind} section has no DTLS fingerprint")
    return OfferSummary(
        kinds=tuple(kinds),
        video_codecs=frozenset(video),
        audio_codecs=frozenset(audio),
        directions=tuple(m.direction for m in parsed.media),
        ice_ufrags=tuple(m.ice.usernameFragment if m.ice else None for m in parsed.media),
    )
