"""The control socket: a unix socket in the state dir, mode 0600 (root only).

Protocol: the client sends one JSON object on one line
(``{"cmd": "status"}`` or ``{"cmd": "reload"}``) and reads one JSON line back.
There is no network listener.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

StatusFn = Callable[[], dict[str, Any]]
ReloadFn = Callable[[], Awaitable[tuple[bool, list[str]]]]

SOCKET_NAME = "vipkeeper.sock"
STATUS_FILE = "vipkeeper.json"
MAX_REQUEST_BYTES = 4096


class ControlServer:
    """Serves ``status`` (the status JSON) and ``reload`` (the daemon's single-flight
    reload) to root on the unix socket."""

    def __init__(self, state_dir: Path, *, status: StatusFn, reload: ReloadFn) -> None:
        self._status = status
        self._reload = reload
        self.path = state_dir / SOCKET_NAME
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            reply = await self.handle(line[:MAX_REQUEST_BYTES])
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.debug("control client: %s", exc)
        finally:
            writer.close()

    async def handle(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line or b"{}")
            cmd = req.get("cmd") if isinstance(req, dict) else None
        except (ValueError, UnicodeDecodeError):
            return {"ok": False, "error": "request is not JSON"}
        if cmd == "status":
            return {"ok": True, "status": self._status()}
        if cmd == "reload":
            ok, errors = await self._reload()
            return {"ok": ok, "errors": errors}
        return {"ok": False, "error": f"unknown command {cmd!r}"}


def write_status_file(status: dict[str, Any], state_dir: Path) -> Path:
    """SIGUSR1: the status JSON, written atomically (keepalived users' habit)."""
    path = state_dir / STATUS_FILE
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(status, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def request(state_dir: Path, cmd: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Client side: one request to a running daemon."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(state_dir / SOCKET_NAME))
        s.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)
