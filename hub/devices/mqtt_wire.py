"""MQTT 5 / 3.1.1 packets, for the ingest's client: the few it sends, and a stream parser.

The ingest receives tens of thousands of PUBLISH packets a second. General clients spend most of
their time per message building message and property objects (paho: about 24 µs of CPU each on
this machine); this parser turns a socket read into ``(mid, qos, topic, payload)`` tuples in a
few µs each, and the client acks a batch in one write once it is stored. Only what the ingest
needs is here: CONNECT with a will, CONNACK, SUBSCRIBE/SUBACK, PUBLISH both ways at QoS <= 1
(it subscribes at QoS 1, so the broker never sends QoS 2), PUBACK, PINGREQ/PINGRESP, DISCONNECT.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
MAX_REMAINING = 268_435_455

_PUBACK = struct.Struct("!BBH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

# MQTT 5 property identifiers the client writes or reads; every other one is skipped by its type.
SESSION_EXPIRY_INTERVAL = 0x11
SERVER_KEEP_ALIVE = 0x13
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21

_BYTE, _U16_T, _U32_T, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
_PROPERTY_TYPES: dict[int, int] = {
    0x01: _BYTE, 0x02: _U32_T, 0x03: _UTF8, 0x08: _UTF8, 0x09: _BINARY, 0x0B: _VARINT,
    0x11: _U32_T, 0x12: _UTF8, 0x13: _U16_T, 0x15: _UTF8, 0x16: _BINARY, 0x17: _BYTE,
    0x18: _U32_T, 0x19: _BYTE, 0x1A: _UTF8, 0x1C: _UTF8, 0x1F: _UTF8, 0x21: _U16_T,
    0x22: _U16_T, 0x23: _U16_T, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _U32_T,
    0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip


class ProtocolError(ValueError):
    """The broker sent something that is not MQTT: the connection must be dropped."""


def varint(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def read_varint(buf: bytes, i: int, end: int) -> tuple[int, int]:
    """(value, index after it); ProtocolError when it is cut short or longer than 4 bytes."""
    value = shift = 0
    for k in range(i, min(end, i + 4)):
        b = buf[k]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, k + 1
        shift += 7
    raise ProtocolError("malformed variable byte integer")


def _string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return _U16.pack(len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def _properties(props: dict[int, int]) -> bytes:
    out = bytearray()
    for pid, value in props.items():
        out.append(pid)
        out += _U32.pack(value) if _PROPERTY_TYPES[pid] == _U32_T else _U16.pack(value)
    return varint(len(out)) + bytes(out)


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def connect(
    client_id: str,
    *,
    username: str,
    password: str,
    keepalive: int,
    will: Will,
    v5: bool,
    session_expiry: int,
    receive_maximum: int,
) -> bytes:
    """CONNECT without clean start: the broker keeps this client's session (3.1.1: clean
    session off; 5: session expiry)."""
    flags = 0x80 | 0x40 | 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    body = bytearray(_string("MQTT") + bytes([5 if v5 else 4, flags]) + _U16.pack(keepalive))
    if v5:
        body += _properties(
            {SESSION_EXPIRY_INTERVAL: session_expiry, RECEIVE_MAXIMUM: receive_maximum}
        )
    body += _string(client_id)
    if v5:
        body += b"\x00"  # no will properties
    body += _string(will.topic) + _string(will.payload)
    body += _string(username) + _string(password)
    return _packet(CONNECT << 4, bytes(body))


def subscribe(mid: int, filters: Sequence[str], qos: int, *, v5: bool) -> bytes:
    body = bytearray(_U16.pack(mid))
    if v5:
        body += b"\x00"
    for f in filters:
        body += _string(f) + bytes([qos])
    return _packet(SUBSCRIBE << 4 | 0x02, bytes(body))


def publish(topic: str, payload: bytes, *, mid: int, qos: int, retain: bool, v5: bool) -> bytes:
    body = bytearray(_string(topic))
    if qos:
        body += _U16.pack(mid)
    if v5:
        body += b"\x00"
    body += payload
    return _packet(PUBLISH << 4 | qos << 1 | (1 if retain else 0), bytes(body))


def pubacks(mids: Sequence[int]) -> bytes:
    """PUBACKs for many messages in one buffer. Remaining length 2, no reason code: success in
    MQTT 3.1.1 and 5 alike."""
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, m) for m in mids])


def properties(buf: bytes, i: int, end: int) -> tuple[dict[int, object], int]:
    """An MQTT 5 property block at ``i``: ({id: value}, index after it)."""
    length, i = read_varint(buf, i, end)
    stop = i + length
    if stop > end:
        raise ProtocolError("properties run past the packet")
    out: dict[int, object] = {}
    while i < stop:
        pid = buf[i]
        kind = _PROPERTY_TYPES.get(pid)
        i += 1
        value: object
        if kind == _BYTE:
            value, i = buf[i], i + 1
        elif kind == _U16_T:
            value, i = _U16.unpack_from(buf, i)[0], i + 2
        elif kind == _U32_T:
            value, i = _U32.unpack_from(buf, i)[0], i + 4
        elif kind == _VARINT:
            value, i = read_varint(buf, i, stop)
        elif kind in (_UTF8, _BINARY):
            n = _U16.unpack_from(buf, i)[0]
            raw = bytes(buf[i + 2 : i + 2 + n])
            value, i = (raw.decode("utf-8", "replace") if kind == _UTF8 else raw), i + 2 + n
        elif kind == _PAIR:
            for _ in range(2):
                i += 2 + _U16.unpack_from(buf, i)[0]
            continue
        else:
            raise ProtocolError(f"unknown property 0x{pid:02x}")
        out[pid] = value
    if i != stop:
        raise ProtocolError("property block length mismatch")
    return out, stop


@dataclass(frozen=True)
class Connack:
    session_present: bool
    code: int
    """0 accepted; 3.1.1 return codes 1-5 or MQTT 5 reason codes >= 0x80 refused."""
    properties: dict[int, object]


def parse_connack(body: bytes, *, v5: bool) -> Connack:
    if len(body) < 2:
        raise ProtocolError("short CONNACK")
    props = properties(body, 2, len(body))[0] if v5 and len(body) > 2 else {}
    return Connack(bool(body[0] & 1), body[1], props)


def parse_suback(body: bytes, *, v5: bool) -> tuple[int, list[int]]:
    """(packet id, one reason code per filter: 0-2 granted QoS, >= 0x80 refused)."""
    if len(body) < 3:
        raise ProtocolError("short SUBACK")
    mid = _U16.unpack_from(body, 0)[0]
    i = properties(body, 2, len(body))[1] if v5 else 2
    return mid, list(body[i:])


Inbound = tuple[int, int, int, str, bytes]
"""(connection generation, mid, qos, topic, payload)"""


class Reader:
    """Splits a byte stream into packets: PUBLISH straight into ``inbox`` tuples, every other
    packet to ``control(type, flags, body)``."""

    def __init__(
        self,
        inbox_append: Callable[[Inbound], None],
        control: Callable[[int, int, bytes], None],
        *,
        v5: bool,
        gen: int,
    ) -> None:
        self._append = inbox_append
        self._control = control
        self._v5 = v5
        self._gen = gen
        self._rest = b""

    def feed(self, data: bytes) -> int:
        """Parse what is complete; keep the tail. Returns the PUBLISH packets appended."""
        buf = self._rest + data if self._rest else data
        n = len(buf)
        i = 0
        count = 0
        append, v5, gen = self._append, self._v5, self._gen
        while n - i >= 2:
            # The remaining length, inline: this loop runs once per received message.
            j = i + 1
            length = shift = 0
            while True:
                if j >= n:
                    self._rest = buf[i:]
                    return count
                b = buf[j]
                j += 1
                length |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise ProtocolError("malformed remaining length")
            end = j + length
            if end > n:
                break
            first = buf[i]
            if first >> 4 == PUBLISH:
                if length < 2:
                    raise ProtocolError("short PUBLISH")
                k = j + 2 + ((buf[j] << 8) | buf[j + 1])
                qos = (first >> 1) & 3
                if k + (2 if qos else 0) + v5 > end:
                    raise ProtocolError("PUBLISH header runs past the packet")
                topic = buf[j + 2 : k].decode("utf-8", "replace")
                mid = 0
                if qos:
                    mid = (buf[k] << 8) | buf[k + 1]
                    k += 2
                if v5:
                    plen = buf[k]
                    k += 1
                    if plen >= 0x80:
                        plen, k = read_varint(buf, k - 1, end)
                    k += plen
                if k > end:
                    raise ProtocolError("PUBLISH header runs past the packet")
                append((gen, mid, qos, topic, buf[k:end]))
                count += 1
            else:
                self._control(first >> 4, first & 0x0F, buf[j:end])
            i = end
        self._rest = buf[i:]
        return count
