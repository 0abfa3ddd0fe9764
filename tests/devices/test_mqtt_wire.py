"""The ingest's MQTT packet parser: any split of the byte stream gives the same messages, and
malformed input is a protocol error rather than a wrong message."""

from __future__ import annotations

import random

import pytest

from hub.devices import mqtt_wire as wire


def _collect(v5: bool) -> tuple[wire.Reader, list[wire.Inbound], list[tuple[int, int, bytes]]]:
    inbox: list[wire.Inbound] = []
    control: list[tuple[int, int, bytes]] = []
    reader = wire.Reader(inbox.append, lambda *a: control.append(a), v5=v5, gen=7)
    return reader, inbox, control


def _publish_with_properties(topic: str, payload: bytes, mid: int) -> bytes:
    # A broker may add properties (here a message expiry and a user property) to what it sends.
    props = bytes([0x02]) + (60).to_bytes(4, "big")
    props += bytes([0x26]) + wire._string("k") + wire._string("v")
    body = wire._string(topic) + mid.to_bytes(2, "big") + wire.varint(len(props)) + props
    return wire._packet(0x32, body + payload)


@pytest.mark.parametrize("v5", [True, False])
def test_any_split_of_the_stream_gives_the_same_messages(v5: bool) -> None:
    rng = random.Random(5)
    expected: list[wire.Inbound] = []
    stream = bytearray()
    for i in range(300):
        topic = f"hub/v1/devices/dev-{i % 7}/telemetry"
        payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 200, 20_000])))
        qos = i % 2
        mid = i % 65_535 + 1 if qos else 0
        if v5 and i % 5 == 0 and qos:
            stream += _publish_with_properties(topic, payload, mid)
        else:
            stream += wire.publish(topic, payload, mid=mid, qos=qos, retain=False, v5=v5)
        expected.append((7, mid, qos, topic, payload))
        if i % 50 == 0:
            stream += b"\xd0\x00"  # PINGRESP between messages
    for _ in range(3):
        reader, inbox, control = _collect(v5)
        i = 0
        while i < len(stream):
            n = rng.choice([1, 2, 5, 100, 4096, 70_000])
            reader.feed(bytes(stream[i : i + n]))
            i += n
        assert inbox == expected
        assert [c[0] for c in control] == [wire.PINGRESP] * 6


def test_control_packets_are_parsed() -> None:
    reader, _, control = _collect(True)
    # CONNACK: session present, success, server keep alive 20 s.
    props = bytes([wire.SERVER_KEEP_ALIVE]) + (20).to_bytes(2, "big")
    reader.feed(wire._packet(0x20, b"\x01\x00" + wire.varint(len(props)) + props))
    reader.feed(wire._packet(0x90, b"\x00\x09\x00\x01\x01\x80"))  # SUBACK mid 9: 1, 1, refused
    (connack, suback) = control
    ack = wire.parse_connack(connack[2], v5=True)
    assert ack.session_present and ack.code == 0 and ack.properties[wire.SERVER_KEEP_ALIVE] == 20
    assert wire.parse_suback(suback[2], v5=True) == (9, [1, 1, 0x80])
    assert wire.parse_suback(b"\x00\x09\x01\x80", v5=False) == (9, [1, 0x80])


def test_packets_the_client_sends() -> None:
    assert wire.pubacks([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"
    sub = wire.subscribe(3, ["a/+", "$share/g/b"], 1, v5=True)
    assert sub[0] == 0x82 and sub.endswith(wire._string("$share/g/b") + b"\x01")
    c = wire.connect(
        "hub",
        username="u",
        password="p",
        keepalive=30,
        will=wire.Will("hub/v1/hub/state", b"{}"),
        v5=True,
        session_expiry=604_800,
        receive_maximum=20_000,
    )
    assert c[0] == 0x10 and b"MQTT\x05" in c
    assert c[c.index(b"MQTT\x05") + 5] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04  # no clean start
    assert bytes([wire.SESSION_EXPIRY_INTERVAL]) + (604_800).to_bytes(4, "big") in c
    with pytest.raises(ValueError):
        wire.varint(wire.MAX_REMAINING + 1)


@pytest.mark.parametrize(
    "data",
    [
        b"\x30\xff\xff\xff\xff\x01",  # a remaining length longer than 4 bytes
        wire._packet(0x32, b"\x00\x40abc\x00\x01"),  # topic length past the packet
        wire._packet(0x30, b"\x00"),  # shorter than a topic length
    ],
)
def test_malformed_packets_are_protocol_errors(data: bytes) -> None:
    reader, inbox, _ = _collect(True)
    with pytest.raises(wire.ProtocolError):
        reader.feed(data)
    assert inbox == []
