"""The proxy's HTTP server: aiohttp's, with request lines as tolerant as Swift's.

Swift takes a request path as the bytes the client sent and only then checks
them (``412 Invalid UTF8 or contains NULL`` for bytes that are not UTF-8 or a
NUL), so clients that send raw UTF-8 in a path (``PUT /v1/a/c/é``) work.
aiohttp's fast HTTP parser (llhttp) refuses any byte above 0x7f in a request
line with a 400 of its own, before the application sees the request; its
pure-Python parser takes such a line and decodes it as UTF-8 (bytes that are
not UTF-8 become surrogates, which :func:`proxy.request.parse_path` refuses).

The Python parser costs about 20 µs more per request, so each connection
starts on the fast one and :class:`TolerantParser` hands over to the Python
one only when the fast one refuses a message head holding such bytes: the
bytes fed since the last message boundary are parsed again by the Python
parser, which keeps the connection from then on. (A refused head that did not
start at a chunk the fast parser was idle before, e.g. the second of two
pipelined requests split across reads, stays refused, as before.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpRequestParserPy
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_server import Server

# The parser's answer to feed_data: (messages with their payloads, upgraded, tail).
Fed = tuple[Sequence[tuple[Any, StreamReader]], bool, bytes]


class TolerantParser:
    """aiohttp's fast request parser, handing over to its Python parser when a
    message head the fast one refuses holds bytes above 0x7f."""

    def __init__(self, fast: Any, make_python: Any) -> None:
        self._fast = fast
        self._make_python = make_python
        self._python: Any = None
        self._pending = b""  # bytes fed since the fast parser was last idle
        self._body: StreamReader | None = None  # the body last handed out

    @property
    def parser(self) -> Any:
        """The parser in use now."""
        return self._python or self._fast

    def feed_data(self, data: bytes) -> Fed:
        if self._python is not None:
            result: Fed = self._python.feed_data(data)
            return result
        idle = self._body is None or self._body.is_eof()
        if idle:
            self._pending += data
        else:
            self._pending = b""
        try:
            messages, upgraded, tail = self._fast.feed_data(data)
        except HttpProcessingError:
            pending, self._pending = self._pending, b""
            if not idle or pending.isascii():
                raise
            self._python = self._make_python()
            result = self._python.feed_data(pending)
            return result
        if messages:
            self._pending = b""
            self._body = messages[-1][1]
        return messages, upgraded, tail

    def __getattr__(self, name: str) -> Any:
        # message_consumed, feed_eof, set_upgraded, pause_reading: the parser in use
        return getattr(self.parser, name)


class TolerantServer(Server):
    """aiohttp's ``Server`` whose connections parse with a :class:`TolerantParser`."""

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        kwargs = self._kwargs
        loop = self._loop
        read_bufsize = kwargs.get("read_bufsize", 2 ** 16)

        def make_python() -> Any:
            return HttpRequestParserPy(
                handler, loop, read_bufsize,
                max_line_size=kwargs.get("max_line_size", 8190),
                max_field_size=kwargs.get("max_field_size", 8190),
                max_headers=kwargs.get("max_headers", 128),
                payload_exception=RequestPayloadError,
                auto_decompress=kwargs.get("auto_decompress", True))

        handler._parser = TolerantParser(handler._parser, make_python)  # type: ignore[assignment]
        return handler


class ProxyRunner(web.AppRunner):
    """``web.AppRunner`` serving its application through a :class:`TolerantServer`."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()  # the application started, as usual
        app = self.app
        return TolerantServer(
            app._handle, request_factory=app._make_request,  # type: ignore[arg-type]
            handler_cancellation=server.handler_cancellation,
            loop=asyncio.get_running_loop(), **server._kwargs)
