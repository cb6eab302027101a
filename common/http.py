"""HTTP plumbing every Strata API shares.

Each API builds its aiohttp application with :func:`make_app`, giving an
:class:`ErrorFormat` that renders errors in that API's own wire format. The
middleware here then:

* gives every request a transaction id (``request[TXN_ID]``), returned in
  ``X-Openstack-Request-Id`` and written in one access-log line per call;
* turns oversize bodies into 413 before they are read;
* maps :class:`ApiError` and aiohttp's HTTP exceptions to the API's format;
* logs anything else with its traceback and answers a bare 500, so no stack
  trace ever reaches a client;
* re-raises ``CancelledError`` (a client that went away is not an error).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import uvloop
from aiohttp import web

from common.allocator import tune_allocator
from common.errors import BadRequest, StrataError, TooLarge

_T = TypeVar("_T")

access_log = logging.getLogger("strata.access")
error_log = logging.getLogger("strata.error")
log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TXN_ID: web.RequestKey[str] = web.RequestKey("txn_id", str)
_ID_RE = re.compile(r"(req-|tx)[A-Za-z0-9-]{8,60}")


class ApiError(Exception):
    """An error a handler raises to answer with ``status`` in the API's format."""

    def __init__(
        self, status: int, message: str, *, title: str | None = None,
        headers: dict[str, str] | None = None, cause: StrataError | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or _reason(status)
        self.headers = headers or {}
        # The domain error this answers, for formats that name its kind (Neutron's "type").
        self.cause = cause


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ErrorFormat(Protocol):
    def __call__(self, request: web.Request, err: ApiError) -> web.Response: ...


def json_error_format(request: web.Request, err: ApiError) -> web.Response:
    """OpenStack's usual ``{"error": {"code", "title", "message"}}`` body."""
    body = {"error": {"code": err.status, "title": err.title, "message": err.message}}
    return web.json_response(body, status=err.status, headers=err.headers)


def openstack_error_format_for(identity_url: str) -> ErrorFormat:
    """Keystone's and Glance's ``{"error": {"code", "title", "message"}}`` body, with
    the ``WWW-Authenticate: Keystone uri=...`` header clients follow on a 401.

    glanceclient reads ``message`` from every object in a JSON error body and
    openstacksdk from the body or its values, so both show our message.
    """
    def render(request: web.Request, err: ApiError) -> web.Response:
        body = {"error": {"code": err.status, "title": err.title, "message": err.message}}
        return web.json_response(body, status=err.status,
                                 headers=keystone_auth_headers(err, identity_url))

    return render


def keystone_auth_headers(err: ApiError, identity_url: str) -> dict[str, str]:
    """``err``'s headers, plus where to authenticate when it is a 401."""
    headers = dict(err.headers)
    if err.status == 401:
        headers["WWW-Authenticate"] = f'Keystone uri="{identity_url}"'
    return headers


def map_domain_error(exc: Exception) -> ApiError | None:
    """A :class:`~common.errors.StrataError` as the ApiError of its status (the one
    place domain errors become HTTP); None for anything else."""
    if isinstance(exc, StrataError):
        return ApiError(exc.status, exc.message, headers=exc.headers(), cause=exc)
    return None


def swift_txn_id() -> str:
    """Swift's transaction id: ``tx`` + 21 random hex + ``-`` + the time in 10 hex."""
    return f"tx{secrets.token_hex(11)[:21]}-{int(time.time()):010x}"


def client_gone(exc: Exception) -> ApiError | None:
    """A client that hung up mid-request: Swift's 499, not a server error.

    aiohttp's own client errors (a connection we opened to another service)
    are ours, not the client's, and stay 500/503.
    """
    if isinstance(exc, ConnectionResetError) and not isinstance(exc, aiohttp.ClientError):
        return ApiError(499, "Client Disconnect")
    return None


def new_request_id() -> str:
    """``req-<uuid4>``, the form Keystone, Glance, Cinder and Nova return."""
    h = secrets.token_hex(16)
    return f"req-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class AppSettings:
    service: str
    error_format: ErrorFormat = json_error_format
    max_body: int = 1 << 20
    request_id: Callable[[], str] = new_request_id
    request_id_headers: tuple[str, ...] = ("X-Openstack-Request-Id",)
    # A request id arriving in one of these headers is kept (so one id follows a
    # request from the proxy through the storage nodes); others get a new one.
    incoming_id_headers: tuple[str, ...] = ("X-Openstack-Request-Id",)
    # Requests under these path prefixes are logged at DEBUG, not INFO (background
    # chatter such as replication, which would drown the request log).
    quiet_prefixes: tuple[str, ...] = ()
    # Maps errors that are not StrataErrors (a library's own exceptions) to an
    # ApiError; None means "not mine" (500). StrataErrors map by their status.
    map_error: Callable[[Exception], ApiError | None] = lambda exc: None


def _status_error(exc: web.HTTPException) -> ApiError:
    message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
    defaults = {
        404: "The resource could not be found.",
        405: "The method is not allowed for the requested URL.",
        413: "Request Entity Too Large",
    }
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    return ApiError(
        exc.status, message or defaults.get(exc.status, exc.reason), headers=headers
    )


def make_middleware(settings: AppSettings) -> Any:
    @web.middleware
    async def strata_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        txn = next((request.headers[h] for h in settings.incoming_id_headers
                    if h in request.headers), "")
        if not _ID_RE.fullmatch(txn):
            txn = settings.request_id()
        request[TXN_ID] = txn
        start = time.monotonic()
        response: web.StreamResponse
        try:
            if request.content_length is not None and request.content_length > settings.max_body:
                raise ApiError(413, "Request Entity Too Large")
            response = await handler(request)
        except asyncio.CancelledError:
            access_log.info(
                '%s %s "%s %s" client-disconnect txn=%s', settings.service,
                request.remote, request.method, request.path, txn,
            )
            raise
        except ApiError as err:
            response = settings.error_format(request, err)
        except web.HTTPException as exc:
            if exc.status < 400:
                response = exc
            else:
                response = settings.error_format(request, _status_error(exc))
        except Exception as exc:
            mapped = map_domain_error(exc) or settings.map_error(exc)
            if mapped is None:
                error_log.exception("%s: unhandled error txn=%s", settings.service, txn)
                mapped = ApiError(500, "An unexpected error prevented the server from "
                                  "fulfilling your request.")
            response = settings.error_format(request, mapped)
        for name in settings.request_id_headers:
            response.headers[name] = txn
        level = logging.DEBUG if settings.quiet_prefixes and \
            request.path.startswith(settings.quiet_prefixes) else logging.INFO
        access_log.log(
            level, '%s %s "%s %s" %d %s %.4f txn=%s', settings.service, request.remote,
            request.method, request.path_qs if _loggable(request) else request.path,
            response.status, response.content_length if response.content_length is not None
            else "-", time.monotonic() - start, txn,
        )
        return response

    return strata_middleware


def _loggable(request: web.Request) -> bool:
    """Query strings that carry signatures or keys are not written to logs."""
    q = request.query_string.lower()
    return not any(s in q for s in ("signature", "temp_url_sig", "x-amz-credential"))


async def healthcheck(request: web.Request) -> web.Response:
    return web.Response(text="OK")


def make_app(settings: AppSettings) -> web.Application:
    app = web.Application(
        middlewares=[make_middleware(settings)], client_max_size=settings.max_body
    )
    app.router.add_get("/healthcheck", healthcheck)

    async def stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
        # A handler that streams its answer sends the headers before the
        # middleware sees the response: stamp the id as the headers go out.
        txn = request.get(TXN_ID)
        if txn:
            for name in settings.request_id_headers:
                response.headers[name] = txn

    app.on_response_prepare.append(stamp_request_id)
    return app


async def json_body(request: web.Request, limit: int | None = None) -> Any:
    """The request body as JSON: :class:`~common.errors.BadRequest` saying what is
    wrong when it is empty or malformed, :class:`~common.errors.TooLarge` past
    ``limit`` bytes (read no further than that; None: the app's own body limit)."""
    if limit is None:
        raw = await request.read()
    else:
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes.")
        buf = bytearray()
        while len(buf) <= limit:
            chunk = await request.content.read(limit + 1 - len(buf))
            if not chunk:
                break
            buf += chunk
        if len(buf) > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes.")
        raw = bytes(buf)
    if not raw:
        raise BadRequest("The request body is empty; a JSON document is required.")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON in request body: {exc}") from None


class BatchedStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log lines to stderr, written in batches instead of one write(2) per line.

    Busy servers log a line per request; a write per line (and, downstream,
    the supervisor's read per line) was a measurable share of their CPU. Lines
    are flushed at most ``interval`` seconds late, and at once for warnings and
    errors, so what explains a crash is never held back.
    """

    def __init__(self, interval: float = 0.2) -> None:
        stream = open(2, "w", buffering=1 << 16, encoding="utf-8",
                      errors="backslashreplace", closefd=False)
        super().__init__(stream)
        self._stop = threading.Event()
        self._interval = interval
        self._start_flusher()
        # A forked worker inherits an empty buffer and gets its own flusher.
        os.register_at_fork(before=self.flush, after_in_child=self._start_flusher)

    def _start_flusher(self) -> None:
        threading.Thread(target=self._flusher, daemon=True, name="log-flush").start()

    def _flusher(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(msg + "\n")
                if record.levelno >= logging.WARNING:
                    self.stream.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self._stop.set()
        super().close()


class _Formatter(logging.Formatter):
    """Formats ``asctime`` once per second, not once per line (strftime is a visible
    share of a busy server's logging)."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(record.created))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"


def setup_logging(level: str = "INFO", service: str = "strata") -> None:
    # No line names a caller, a thread or a process: skip looking them up per record
    # (finding the caller walks the stack on every access-log line).
    setattr(logging, "_srcfile", None)  # noqa: B010 (private, not in typeshed)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BatchedStderrHandler()
    handler.setFormatter(_Formatter(
        f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


# Python's cyclic garbage collector, as a long-running server needs it. With the
# interpreter's defaults (a young collection every 700 net allocations, a full one
# every 100 young ones, each full one walking every object the process holds: its
# modules, routes, rings, database engines) the collector took 14-17% of the
# proxy's CPU and 5% of a storage node's under 4 KiB PUTs. What a service holds
# once it is up lives as long as the service, so it is frozen out of the
# collector's walks (``settle_gc`` at start and once the server listens), and young
# collections run every 10,000 allocations (about once a second under load, a few
# milliseconds each). Cycles are still found: only later and in bigger batches.
GC_THRESHOLDS = (10_000, 10, 10)


def settle_gc() -> None:
    """Collect what start-up left behind, then freeze every object that remains
    (out of the collector's walks for good) and set :data:`GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_service(main: Coroutine[Any, Any, _T]) -> _T:
    """Run a service's main coroutine on uvloop: its event loop and TCP transports
    are native code, which roughly halves the per-request overhead of asyncio's
    pure-Python ones on these CPU-bound servers. The C allocator is set for
    streaming (:func:`common.allocator.tune_allocator`) and the collector settled
    (:func:`settle_gc`), with every module the service imported."""
    tune_allocator()
    settle_gc()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


# How every service's aiohttp server runs. Headers up to 16 KiB reach the
# handlers (and so get the API's own error format): OpenStack tokens and signed
# S3 headers can pass aiohttp's 8 KiB. Request bodies are never decompressed:
# a body sent with Content-Encoding: gzip is an object's bytes, kept as sent.
RUNNER_OPTIONS: dict[str, Any] = {
    "access_log": None, "handle_signals": False, "max_field_size": 16384,
    "max_line_size": 16384, "auto_decompress": False}


async def serve_site(runner: web.BaseRunner, site: web.BaseSite) -> None:
    """Start ``site`` (of the set-up ``runner``) and serve until cancelled, then clean
    up. Once it listens the collector is settled again, with what the app built."""
    try:
        await site.start()
        settle_gc()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def run_app(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` until cancelled (SIGTERM/SIGINT handled by the caller)."""
    runner = web.AppRunner(app, **RUNNER_OPTIONS)
    await runner.setup()
    await serve_site(runner, web.TCPSite(runner, host, port, reuse_address=True))


async def serve_app(app: web.Application, host: str, port: int, name: str) -> None:
    """Serve ``app`` until SIGTERM or SIGINT: what each service's ``serve`` does."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    log.info("%s listening on http://%s:%d", name, host, port)
    try:
        await run_app(app, host, port)
    except asyncio.CancelledError:
        log.info("%s stopping", name)
