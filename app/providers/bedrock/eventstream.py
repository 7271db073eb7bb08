"""An incremental decoder for `application/vnd.amazon.eventstream`, the binary framing of ConverseStream.

A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes, the headers
(name length u8, name, value type u8, value), the payload, and a CRC32 of everything before it.
All integers are big-endian. Feed bytes as they arrive; complete messages come out.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import httpx
import msgspec

_PRELUDE = struct.Struct(">II")
_PRELUDE_LENGTH = 12  # the two lengths and their CRC
_CRC_LENGTH = 4
_MAX_MESSAGE = 16 * 1024 * 1024

# Header value types → fixed value sizes; None: a u16 length prefix follows (bytes, string).
_FIXED_SIZE = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_INTEGERS = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


class EventStreamError(httpx.HTTPError):
    """A broken frame or an exception message: the relay treats it as a failed upstream stream."""


class EventMessage(msgspec.Struct):
    headers: dict[str, object]
    payload: bytes

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type", "event"))

    @property
    def event_type(self) -> str | None:
        value = self.headers.get(":event-type")
        return None if value is None else str(value)

    @property
    def exception_type(self) -> str | None:
        value = self.headers.get(":exception-type") or self.headers.get(":error-code")
        return None if value is None else str(value)


def _headers(data: bytes) -> dict[str, object]:
    headers: dict[str, object] = {}
    offset = 0
    while offset < len(data):
        name_length = data[offset]
        name = data[offset + 1 : offset + 1 + name_length].decode()
        offset += 1 + name_length
        kind = data[offset]
        offset += 1
        if kind in (6, 7):
            (length,) = struct.unpack_from(">H", data, offset)
            raw = data[offset + 2 : offset + 2 + length]
            headers[name] = raw.decode() if kind == 7 else raw
            offset += 2 + length
        elif kind in _FIXED_SIZE:
            size = _FIXED_SIZE[kind]
            if kind in (0, 1):
                headers[name] = kind == 0
            elif kind in _INTEGERS:
                (headers[name],) = struct.unpack_from(_INTEGERS[kind], data, offset)
            else:
                headers[name] = data[offset : offset + size]
            offset += size
        else:
            raise EventStreamError(f"unknown event-stream header type {kind}")
    return headers


class EventStreamDecoder:
    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[EventMessage]:
        self._buffer += data
        while len(self._buffer) >= _PRELUDE_LENGTH:
            total, headers_length = _PRELUDE.unpack_from(self._buffer)
            (prelude_crc,) = struct.unpack_from(">I", self._buffer, 8)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("event-stream prelude checksum mismatch")
            if total > _MAX_MESSAGE or total < _PRELUDE_LENGTH + headers_length + _CRC_LENGTH:
                raise EventStreamError("event-stream message has an impossible length")
            if len(self._buffer) < total:
                return
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from(">I", frame, total - _CRC_LENGTH)
            if zlib.crc32(frame[: total - _CRC_LENGTH]) != message_crc:
                raise EventStreamError("event-stream message checksum mismatch")
            headers_end = _PRELUDE_LENGTH + headers_length
            yield EventMessage(_headers(frame[_PRELUDE_LENGTH:headers_end]), frame[headers_end : total - _CRC_LENGTH])

    @property
    def pending(self) -> int:
        """Bytes of an unfinished message (a stream that ends with some was cut short)."""
        return len(self._buffer)
