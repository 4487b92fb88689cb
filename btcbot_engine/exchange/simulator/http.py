"""A small HTTP/1.1 server on asyncio streams, enough for the simulator's REST API.

Written here rather than using a framework so REST, WebSocket and the market share one event loop
with no locks, and so faults can act on the connection itself: a "lost ack" is just closing the
socket without a reply. Supports keep-alive, Content-Length and chunked request bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

MAX_LINE = 16 * 1024
MAX_HEADERS = 100
MAX_BODY = 1024 * 1024


class BadRequest(Exception):
    """A request the server cannot parse; answered with 400 and the connection closed."""


@dataclass
class Request:
    """One parsed request. Header names and query parameter names are lower-cased.

    Parameter names are matched case-insensitively, as ASP.NET model binding (BTCTurk's stack)
    does; values keep their case.
    """

    method: str
    target: str
    version: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name.lower())
        return values[0] if values else None

    def params(self, name: str) -> list[str]:
        """Every value of a repeatable query parameter (`type=buy&type=sell`)."""
        return list(self.query.get(name.lower(), []))


@dataclass
class Response:
    """A reply. `headers` are extra headers (Content-Type and Content-Length are added)."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, keep_alive: bool) -> bytes:
        """Status line, headers and body as bytes."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


# A route returns DROP when the connection must be closed without any reply (lost-ack fault);
# the server's handler itself returns None for that.
DROP: object = object()
# A handler returns None to drop the connection without any reply.
Handler = Callable[[Request], Awaitable[Response | None]]


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if len(line) > MAX_LINE:
        raise BadRequest("line too long")
    return line


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = (await _read_line(reader)).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadRequest("bad chunk size") from None
        if size == 0:
            while (await _read_line(reader)).strip():
                pass  # trailers are ignored
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise BadRequest("body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read one request; None on a clean end of stream before a request starts."""
    request_line = await _read_line(reader)
    while request_line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
        request_line = await _read_line(reader)
    if not request_line:
        return None
    parts = request_line.decode("latin-1").strip().split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("bad request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = await _read_line(reader)
        if not line:
            raise BadRequest("end of stream inside headers")
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest("bad header line")
        headers[name.strip().lower()] = value.strip()
    else:
        raise BadRequest("too many headers")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if length < 0 or length > MAX_BODY:
            raise BadRequest("bad Content-Length")
        body = await reader.readexactly(length) if length else b""
    split = urlsplit(target)
    query: dict[str, list[str]] = {}
    for name, values in parse_qs(split.query, keep_blank_values=True).items():
        query.setdefault(name.lower(), []).extend(values)
    return Request(
        method=method.upper(),
        target=target,
        version=version,
        path=unquote(split.path) or "/",
        query=query,
        headers=headers,
        body=body,
    )


class HttpServer:
    """Serves `handler` on host:port until stopped; tracks connections to close them on stop."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_LINE + 2
        )

    async def stop(self) -> None:
        """Stop accepting, end every open connection and wait for their tasks."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-request: nothing to answer
        except asyncio.CancelledError:
            # Only stop() cancels these tasks. Ending normally keeps asyncio's start_server
            # callback (3.11) from logging the cancellation as an error.
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_request(reader)
            except (BadRequest, ValueError) as exc:
                reply = Response(400, f'{{"message":"{exc}"}}'.encode())
                writer.write(reply.encode(keep_alive=False))
                await writer.drain()
                return
            if request is None:
                return
            response = await self._handler(request)
            if response is None:
                return  # the fault asked for a dropped connection: no reply at all
            keep_alive = (
                request.version != "HTTP/1.0"
                and request.headers.get("connection", "").lower() != "close"
            )
            writer.write(response.encode(keep_alive))
            await writer.drain()
            if not keep_alive:
                return
