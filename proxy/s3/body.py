"""The body of an S3 request, checked before any of it is stored.

What the signature's ``x-amz-content-sha256`` declares decides how:

- the body's SHA-256: hashed as it is read;
- ``UNSIGNED-PAYLOAD``: passed through;
- ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (``-TRAILER``): aws-chunked, each chunk
  signed with the key of the request's scope, chained from the seed signature;
- ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``: aws-chunked without signatures, a
  checksum in the trailer.

A checksum the client declares (``x-amz-checksum-*`` header or trailer) is
computed as well. Every check runs before the *last* piece of the body is
passed on, so a failed check aborts the backend writes and nothing is stored;
bodies up to :data:`BUFFER_LIMIT` (1 MiB) are read whole first, so the client
gets a clean error before any subrequest starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import StreamReader

from common import sigv4
from proxy.pipeline import Body, BodyTooLarge, BytesBody, StreamBody
from proxy.s3.checksums import Declared
from proxy.s3.errors import S3Error

# Bodies up to this are read whole and checked before any subrequest; larger
# ones (multipart parts, say) stream, checked before their last piece is sent.
BUFFER_LIMIT = 1 << 20
THREAD_HASH = 256 << 10  # pieces at least this large are hashed off the event loop
MAX_LINE = 4096  # a chunk header or trailer line
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SIGNED_STREAMING = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckedBody:
    """Pieces from ``source``; ``finish`` runs (and may raise) before the last one."""

    def __init__(self, source: AsyncIterator[bytes], finish: Callable[[], None]) -> None:
        self.source = source
        self.finish = finish

    async def read_all(self, limit: int) -> bytes:
        out = bytearray()
        async for piece in self.chunks():
            out += piece
            if len(out) > limit:
                raise BodyTooLarge()
        return bytes(out)

    async def chunks(self, size: int = 0) -> AsyncIterator[bytes]:
        held: bytes | None = None
        async for piece in self.source:
            if held is not None:
                yield held
            held = piece
        self.finish()
        if held is not None:
            yield held


@dataclass
class ChunkSigner:
    """Checks aws-chunked signatures: each chains from the one before it."""

    key: bytes
    amz_date: str
    scope: str
    previous: str

    def _sign(self, lines: list[str]) -> str:
        return sigv4.hmac_hex(self.key, "\n".join(lines))

    def chunk(self, signature: str, data_hash: str) -> None:
        want = self._sign(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope,
                           self.previous, EMPTY_SHA256, data_hash])
        self._accept(want, signature)

    def trailer(self, signature: str, canonical_trailer: str) -> None:
        want = self._sign(["AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope,
                           self.previous,
                           hashlib.sha256(canonical_trailer.encode()).hexdigest()])
        self._accept(want, signature)

    def _accept(self, want: str, signature: str) -> None:
        if not hmac.compare_digest(want.encode(), signature.encode()):
            raise S3Error("SignatureDoesNotMatch", "The chunk signature we calculated does "
                          "not match the signature you provided.")
        self.previous = signature

    @classmethod
    def for_request(cls, key: bytes, string_to_sign: str, seed: str) -> ChunkSigner:
        lines = string_to_sign.split("\n")
        return cls(key, lines[1], lines[2], seed)


def _malformed(what: str) -> S3Error:
    return S3Error("IncompleteBody", f"The aws-chunked body is malformed: {what}.")


@dataclass
class ChunkedDecoder:
    """Decodes one aws-chunked body from the client's stream."""

    stream: StreamReader
    signer: ChunkSigner | None
    decoded_length: int
    checksum: Declared | None
    trailer_expected: bool
    got: int = 0
    trailers: dict[str, str] = field(default_factory=dict)

    async def _line(self) -> str:
        try:
            raw = await self.stream.readuntil(b"\r\n")
        except ValueError:
            raise _malformed("a chunk header is too long") from None
        except Exception:
            raise _malformed("the body ended early") from None
        if len(raw) > MAX_LINE:
            raise _malformed("a chunk header is too long")
        return raw[:-2].decode("latin-1")

    async def pieces(self) -> AsyncIterator[bytes]:
        while True:
            header = await self._line()
            size_hex, _, ext = header.partition(";")
            try:
                size = int(size_hex, 16)
            except ValueError:
                raise _malformed(f"bad chunk size {size_hex[:20]!r}") from None
            signature = ""
            if self.signer is not None:
                name, _, signature = ext.partition("=")
                if name.strip() != "chunk-signature" or not _HEX64.fullmatch(signature):
                    raise _malformed("a chunk has no chunk-signature")
            if size == 0:
                if self.signer is not None:
                    self.signer.chunk(signature, EMPTY_SHA256)
                await self._trailers()
                return
            if self.got + size > self.decoded_length:
                raise _malformed("more data than x-amz-decoded-content-length")
            try:
                data = await self.stream.readexactly(size)
                crlf = await self.stream.readexactly(2)
            except Exception:
                raise S3Error("IncompleteBody") from None
            if crlf != b"\r\n":
                raise _malformed("a chunk is longer than its size")
            if self.signer is not None:
                self.signer.chunk(signature, hashlib.sha256(data).hexdigest())
            if self.checksum is not None:
                self.checksum.hasher.update(data)
            self.got += size
            yield data

    async def _trailers(self) -> None:
        lines: list[tuple[str, str]] = []
        while True:
            try:
                line = await self._line()
            except S3Error:
                if self.trailer_expected:
                    raise
                return  # some clients end with the zero chunk alone
            if not line:
                break
            name, sep, value = line.partition(":")
            if not sep:
                raise _malformed("a trailer line has no colon")
            lines.append((name.strip().lower(), value.strip()))
        signature = ""
        for name, value in lines:
            if name == "x-amz-trailer-signature":
                signature = value
            else:
                self.trailers[name] = value
        if self.signer is not None and self.trailer_expected:
            canonical = "".join(f"{n}:{v}\n" for n, v in lines
                                if n != "x-amz-trailer-signature")
            self.signer.trailer(signature, canonical)

    def finish(self) -> None:
        if self.got != self.decoded_length:
            raise S3Error("IncompleteBody")
        if self.checksum is not None:
            trailer = self.trailers.get("x-amz-checksum-" + self.checksum.algorithm.lower())
            self.checksum.check(trailer)


def _hashed(stream: StreamReader, want: str | None,
            checksum: Declared | None) -> CheckedBody:
    sha = hashlib.sha256() if want is not None else None

    def update(piece: bytes) -> None:
        if sha is not None:
            sha.update(piece)
        if checksum is not None:
            checksum.hasher.update(piece)

    async def source() -> AsyncIterator[bytes]:
        async for piece in StreamBody(stream).chunks():
            if len(piece) >= THREAD_HASH:  # hashlib lets go of the GIL: the loop goes on
                await asyncio.to_thread(update, piece)
            else:
                update(piece)
            yield piece

    def finish() -> None:
        if sha is not None and sha.hexdigest() != want:
            raise S3Error("XAmzContentSHA256Mismatch", ClientComputedContentSHA256=want or "",
                          S3ComputedContentSHA256=sha.hexdigest())
        if checksum is not None:
            checksum.check()

    return CheckedBody(source(), finish)


def _decoded_length(raw: str | None) -> int:
    if raw is None or not raw.isdigit():
        raise S3Error("MissingContentLength", "An aws-chunked body needs "
                      "x-amz-decoded-content-length.")
    return int(raw)


async def request_body(stream: StreamReader, *, payload_hash: str, length: int | None,
                       checksum: Declared | None, decoded: str | None = None,
                       signer: ChunkSigner | None = None) -> tuple[Body, int | None]:
    """The body to use, and its length as stored (decoded for aws-chunked)."""
    body: Body
    if payload_hash.startswith("STREAMING-"):
        if payload_hash not in (*SIGNED_STREAMING, UNSIGNED_TRAILER):
            raise S3Error("InvalidArgument", f"x-amz-content-sha256 {payload_hash} is not "
                          "supported.", ArgumentName="x-amz-content-sha256",
                          ArgumentValue=payload_hash)
        if payload_hash in SIGNED_STREAMING and signer is None:
            raise S3Error("InvalidRequest", "Chunk signatures need a header-signed request.")
        trailer = payload_hash.endswith("-TRAILER")
        if trailer and checksum is None:
            raise S3Error("InvalidRequest", "A trailing payload needs x-amz-trailer naming "
                          "an x-amz-checksum-* trailer.")
        length = _decoded_length(decoded)
        decoder = ChunkedDecoder(stream, signer if payload_hash in SIGNED_STREAMING else None,
                                 length, checksum, trailer)
        body = CheckedBody(decoder.pieces(), decoder.finish)
    elif payload_hash in ("UNSIGNED-PAYLOAD", ""):
        if checksum is None:
            return StreamBody(stream), length
        body = _hashed(stream, None, checksum)
    elif _HEX64.fullmatch(payload_hash):
        body = _hashed(stream, payload_hash, checksum)
    else:
        raise S3Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                      "STREAMING-*, or a valid sha256 value.",
                      ArgumentName="x-amz-content-sha256", ArgumentValue=payload_hash)
    if length is not None and length <= BUFFER_LIMIT:
        try:
            return BytesBody(await body.read_all(BUFFER_LIMIT)), length
        except BodyTooLarge:
            raise S3Error("IncompleteBody") from None
    return body, length


def strip_aws_chunked(content_encoding: str) -> str:
    """Content-Encoding without the transfer-only ``aws-chunked`` coding."""
    codings = [c.strip() for c in content_encoding.split(",")]
    return ", ".join(c for c in codings if c and c.lower() != "aws-chunked")

