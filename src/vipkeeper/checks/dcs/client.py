"""A small asyncio etcd v3 client over etcd's JSON gateway (grpc-gateway, ``/v3/...``).

No dependency: HTTP/1.1 over ``asyncio.open_connection`` (TLS through the standard ``ssl``
module), one kept-alive connection per tracker, keys and values base64 in JSON, int64 as
strings.  Every call is bounded by ``timeout_s`` as a whole (connect, TLS, request, answer);
on a failure the connection is dropped and the next call tries the next endpoint.

Reads are linearizable (``serializable`` false, etcd's default): the member must ask the
leader, so a member without a leader (a minority side) fails them.  A lease keep-alive, a
grant and a txn also need the leader.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
#: A connect may take at most timeout / number of endpoints, and at least this.
CONNECT_MIN_S = 0.1


class EtcdError(Exception):
    """A request that did not succeed.  ``kind``: unreachable, timeout, auth, no_leader,
    lease_not_found, http, protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass(frozen=True, slots=True)
class KeyValue:
    value: bytes
    lease_id: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class RangeResult:
    kv: KeyValue | None
    revision: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        u = urllib.parse.urlsplit(url)
        return cls(u.scheme, u.hostname or "", u.port or 2379)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def make_ssl_context(cacert: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """Read once, when the tracker is built (a few small files)."""
    ctx = ssl.create_default_context(cafile=cacert)
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx


def _classify(status: int, body: bytes) -> EtcdError:
    try:
        doc = json.loads(body)
        message = str(doc.get("message") or doc.get("error") or body[:200].decode(errors="replace"))
        code = int(doc.get("code", 0))
    except (ValueError, AttributeError):
        message, code = body[:200].decode(errors="replace").strip(), 0
    low = message.lower()
    if status == 401 or code == 16 or "auth" in low or "permission denied" in low or "token" in low:
        return EtcdError("auth", message)
    if "no leader" in low or "leader changed" in low or code == 14:
        return EtcdError("no_leader", message)
    if "lease not found" in low:
        return EtcdError("lease_not_found", message)
    return EtcdError("http", f"HTTP {status}: {message}")


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, endpoint: Endpoint) -> None:
        self.reader, self.writer, self.endpoint = reader, writer, endpoint

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def _open(ep: Endpoint, ssl_ctx: ssl.SSLContext | None) -> _Conn:
    use_ssl = ssl_ctx if ep.scheme == "https" else None
    reader, writer = await asyncio.open_connection(ep.host, ep.port, ssl=use_ssl, limit=MAX_BODY_BYTES)
    return _Conn(reader, writer, ep)


def _request_bytes(ep: Endpoint, path: str, body: bytes, token: str | None) -> bytes:
    host = f"[{ep.host}]" if ":" in ep.host else ep.host
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{ep.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    if token:
        head.append(f"Authorization: {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    line = await reader.readline()
    if not line:
        raise EtcdError("unreachable", "connection closed")
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise EtcdError("protocol", f"bad status line {line[:80]!r}")
    headers: dict[str, str] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, val = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = val.strip()
    return int(parts[1]), headers


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise EtcdError("unreachable", "connection closed in a chunked body")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return
        if size > MAX_BODY_BYTES:
            raise EtcdError("protocol", f"chunk of {size} bytes")
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return b"".join([c async for c in _chunks(reader)])
    if "content-length" in headers:
        n = int(headers["content-length"])
        if n > MAX_BODY_BYTES:
            raise EtcdError("protocol", f"body of {n} bytes")
        return await reader.readexactly(n)
    return await reader.read(MAX_BODY_BYTES)


class EtcdClient:
    """Unary calls on one kept-alive connection; :meth:`watch` opens its own."""

    def __init__(
        self,
        endpoints: tuple[str, ...],
        timeout_s: float,
        *,
        ssl_ctx: ssl.SSLContext | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.endpoints = [Endpoint.parse(u) for u in endpoints]
        self.timeout_s = timeout_s
        self.ssl_ctx = ssl_ctx
        self.user, self.password = user, password
        self._next = 0  # the endpoint to try first
        self._conn: _Conn | None = None
        self._token: str | None = None
        self._lock = asyncio.Lock()
        self.last_endpoint: str | None = None

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------ transport

    async def call(self, path: str, body: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """POST ``body`` to ``path``; the decoded answer, or EtcdError.  Bounded by the timeout."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        async with self._lock:
            try:
                async with asyncio.timeout(timeout):
                    return await self._call_any(path, body)
            except TimeoutError:
                self._drop(advance=True)
                raise EtcdError("timeout", f"no answer within {timeout:g} s") from None

    async def _call_any(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Try the endpoints in turn while connections fail (within the caller's deadline)."""
        errors: list[str] = []
        for _ in range(len(self.endpoints)):
            try:
                if self.user and self._token is None and path != "/v3/auth/authenticate":
                    await self._authenticate()
                try:
                    return await self._call_once(path, body)
                except EtcdError as exc:
                    if exc.kind == "auth" and self.user and path != "/v3/auth/authenticate":
                        self._token = None  # expired token: once more with a fresh one
                        await self._authenticate()
                        return await self._call_once(path, body)
                    raise
            except (OSError, asyncio.IncompleteReadError, EtcdError) as exc:
                if isinstance(exc, EtcdError) and exc.kind == "no_leader":
                    self._drop(advance=True)  # that member is cut off: ask another next time
                    raise
                if isinstance(exc, EtcdError) and exc.kind not in ("unreachable", "protocol"):
                    raise
                ep = self.endpoints[self._next % len(self.endpoints)]
                errors.append(f"{ep}: {exc}")
                self._drop(advance=True)
        raise EtcdError("unreachable", "; ".join(errors))

    async def _call_once(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._conn is None:
            ep = self.endpoints[self._next % len(self.endpoints)]
            # a dead address must not eat the whole budget: leave time for the others
            try:
                async with asyncio.timeout(max(CONNECT_MIN_S, self.timeout_s / len(self.endpoints))):
                    self._conn = await _open(ep, self.ssl_ctx)
            except TimeoutError:
                raise EtcdError("unreachable", "connect timed out") from None
        conn = self._conn
        self.last_endpoint = str(conn.endpoint)
        conn.writer.write(_request_bytes(conn.endpoint, path, json.dumps(body).encode(), self._token))
        await conn.writer.drain()
        status, headers = await _read_head(conn.reader)
        data = await _read_body(conn.reader, headers)
        if headers.get("connection", "").lower() == "close":
            self._drop(advance=False)
        if status != 200:
            raise _classify(status, data)
        try:
            doc = json.loads(data)
        except ValueError:
            raise EtcdError("protocol", f"answer is not JSON: {data[:80]!r}") from None
        if not isinstance(doc, dict):
            raise EtcdError("protocol", "answer is not a JSON object")
        if "error" in doc and "result" not in doc:  # a streaming call's error
            raise _classify(500, data)
        return doc

    async def _authenticate(self) -> None:
        doc = await self._call_once("/v3/auth/authenticate", {"name": self.user, "password": self.password})
        token = doc.get("token")
        if not token:
            raise EtcdError("auth", "etcd gave no token")
        self._token = str(token)

    def _drop(self, *, advance: bool) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if advance:
            self._next += 1

    # ------------------------------------------------------------ the calls

    async def get(self, key: str) -> RangeResult:
        """A linearizable read of one key."""
        doc = await self.call("/v3/kv/range", {"key": b64(key)})
        kvs = doc.get("kvs") or []
        revision = int(doc.get("header", {}).get("revision", 0))
        if not kvs:
            return RangeResult(None, revision)
        kv = kvs[0]
        return RangeResult(
            KeyValue(unb64(kv.get("value", "")), int(kv.get("lease", 0)), int(kv.get("mod_revision", 0))), revision
        )

    async def put(self, key: str, value: str, lease_id: int = 0) -> None:
        body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease_id:
            body["lease"] = str(lease_id)
        await self.call("/v3/kv/put", body)

    async def delete(self, key: str) -> None:
        await self.call("/v3/kv/deleterange", {"key": b64(key)})

    async def grant(self, ttl_s: int) -> tuple[int, int]:
        """A new lease: (id, TTL granted)."""
        doc = await self.call("/v3/lease/grant", {"TTL": str(ttl_s)})
        if doc.get("error"):
            raise EtcdError("http", str(doc["error"]))
        return int(doc["ID"]), int(doc.get("TTL", 0))

    async def keepalive(self, lease_id: int) -> int:
        """Renew a lease once: its TTL now (0 or EtcdError lease_not_found: expired)."""
        doc = await self.call("/v3/lease/keepalive", {"ID": str(lease_id)})
        result = doc.get("result", doc)
        ttl = int(result.get("TTL", 0))
        if ttl <= 0:
            raise EtcdError("lease_not_found", f"lease {lease_id:x} has expired")
        return ttl

    async def time_to_live(self, lease_id: int) -> int:
        """The lease's remaining TTL in whole seconds (truncated by etcd); -1: gone."""
        doc = await self.call("/v3/lease/timetolive", {"ID": str(lease_id)})
        return int(doc.get("TTL", -1))

    async def revoke(self, lease_id: int, timeout_s: float | None = None) -> None:
        await self.call("/v3/lease/revoke", {"ID": str(lease_id)}, timeout_s)

    async def create_if_absent(self, key: str, value: str, lease_id: int) -> tuple[bool, KeyValue | None]:
        """Write ``key`` bound to the lease unless it exists: (created, the holder's kv if not)."""
        doc = await self.call(
            "/v3/kv/txn",
            {
                "compare": [{"key": b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}],
                "success": [{"request_put": {"key": b64(key), "value": b64(value), "lease": str(lease_id)}}],
                "failure": [{"request_range": {"key": b64(key)}}],
            },
        )
        if doc.get("succeeded"):
            return True, None
        for r in doc.get("responses") or []:
            kvs = (r.get("response_range") or {}).get("kvs") or []
            if kvs:
                kv = kvs[0]
                return False, KeyValue(unb64(kv.get("value", "")), int(kv.get("lease", 0)), 0)
        return False, None

    async def watch(self, key: str, start_revision: int) -> AsyncIterator[int]:
        """Yield the revision of each change of ``key`` (a long-lived request of its own; the
        caller bounds how long it waits).  Raises EtcdError when the stream ends."""
        ep = self.endpoints[self._next % len(self.endpoints)]
        async with asyncio.timeout(self.timeout_s):
            conn = await _open(ep, self.ssl_ctx)
        try:
            body = {"create_request": {"key": b64(key), "start_revision": str(start_revision)}}
            async with asyncio.timeout(self.timeout_s):
                token = self._token
                conn.writer.write(_request_bytes(ep, "/v3/watch", json.dumps(body).encode(), token))
                await conn.writer.drain()
                status, headers = await _read_head(conn.reader)
            if status != 200:
                async with asyncio.timeout(self.timeout_s):
                    raise _classify(status, await _read_body(conn.reader, headers))
            buf = b""
            async for chunk in _chunks(conn.reader):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        raise EtcdError("protocol", f"bad watch line {line[:80]!r}") from None
                    if "error" in doc:
                        raise _classify(500, line)
                    result = doc.get("result", {})
                    if result.get("canceled"):
                        raise EtcdError("http", f"watch canceled: {result.get('cancel_reason', '')}")
                    rev = int(result.get("header", {}).get("revision", 0))
                    yield rev
            raise EtcdError("unreachable", "watch stream ended")
        finally:
            conn.close()


def monotonic() -> float:
    return time.monotonic()
