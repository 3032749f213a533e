"""One PostgreSQL server, probed with psycopg 3 (async) within a deadline; psycopg is
imported only when a config uses vrrp_pgsql."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
from typing import Any, Protocol

from vipkeeper.checks.pgsql.decide import PgFacts
from vipkeeper.errors import VipkeeperError

log = logging.getLogger(__name__)


FACTS_SQL = """
SELECT pg_is_in_recovery(),
       current_setting('transaction_read_only'),
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_walfile_name(pg_current_wal_lsn()) END,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                          (SELECT timeline_id FROM pg_control_checkpoint()))
       END
"""
SYSID_SQL = "SELECT system_identifier FROM pg_control_system()"


class PsycopgMissing(VipkeeperError):
    """A config uses vrrp_pgsql but psycopg 3 is not installed."""


def import_psycopg(what: str = "vrrp_pgsql") -> Any:
    try:
        import psycopg  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:
        raise PsycopgMissing(
            f"{what} needs psycopg 3, which is not installed ({exc}); install it with: pip install 'vipkeeper[pgsql]'"
        ) from None
    return psycopg


class ProbeError(Exception):
    """A probe failed; the message is the reason shown to the operator."""


class Prober(Protocol):
    """Returns the facts of one server, or raises ProbeError; never takes longer than asked."""

    async def facts(self, timeout_s: float) -> PgFacts: ...

    async def close(self) -> None: ...


def conninfo_label(conninfo: str) -> str:
    """host:port of a conninfo, for messages (the conninfo itself as a fallback)."""
    try:
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

        d = conninfo_to_dict(conninfo)
    except Exception:
        return conninfo
    host = str(d.get("host") or d.get("hostaddr") or "local socket")
    return f"{host}:{d['port']}" if d.get("port") else host


class PgConnection:
    """One persistent psycopg connection, every use bounded by a deadline."""

    def __init__(self, conninfo: str, *, label: str | None = None) -> None:
        self.psycopg = import_psycopg()
        self.conninfo = conninfo
        self.label = label or conninfo_label(conninfo)
        self.conn: Any = None
        self.system_identifier: int | None = None
        self._inflight: asyncio.Future | None = None
        self._closing: set[asyncio.Task] = set()
        self.connects = 0

    async def facts(self, timeout_s: float) -> PgFacts:
        deadline = time.monotonic() + timeout_s
        if self.conn is None or self.conn.closed or self.conn.broken:
            self._drop()
            await self._connect(timeout_s)
        row = await self._bounded(self._query(FACTS_SQL), deadline, "query")
        in_recovery, read_only, walfile, standby_tli = row
        timeline: int | None
        if walfile:
            timeline = int(walfile[:8], 16)
        else:
            timeline = int(standby_tli) if standby_tli is not None else None
        return PgFacts(bool(in_recovery), read_only == "on", timeline, self.system_identifier)

    async def _connect(self, timeout_s: float) -> None:
        psycopg = self.psycopg
        ms = max(1, int(timeout_s * 1000))
        try:
            async with asyncio.timeout(timeout_s):
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, math.ceil(timeout_s)),  # libpq's minimum is 2 s
                    application_name="vipkeeper",
                )
        except TimeoutError:
            raise ProbeError(f"connect timed out after {timeout_s:g}s") from None
        except psycopg.Error as exc:
            raise ProbeError(f"cannot connect: {_one_line(exc)}") from None
        except OSError as exc:
            raise ProbeError(f"cannot connect: {exc}") from None
        self.conn = conn
        self.connects += 1
        deadline = time.monotonic() + timeout_s
        await self._bounded(self._query(f"SET statement_timeout = {ms}"), deadline, "set statement_timeout")
        try:
            row = await self._bounded(self._query(SYSID_SQL), deadline, "system identifier")
            self.system_identifier = int(row[0]) if row and row[0] is not None else None
        except ProbeError as exc:
            if self.conn is None:
                raise
            log.debug("%s: cannot read system_identifier (%s); identity check skipped", self.label, exc)
            self.system_identifier = None

    async def _query(self, sql: str) -> tuple | None:
        cur = await self.conn.execute(sql)
        return await cur.fetchone() if cur.description else None

    async def _bounded(self, coro: Any, deadline: float, what: str) -> Any:
        """Await ``coro`` until ``deadline``; on timeout, abort the connection
        instead of cancelling (see the module docstring)."""
        psycopg = self.psycopg
        task = asyncio.ensure_future(coro)
        self._inflight = task
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.CancelledError:
            self._drop()
            raise
        if task not in done:
            self._drop()
            raise ProbeError(f"{what} timed out")
        self._inflight = None
        exc = task.exception()
        if exc is None:
            return task.result()
        if isinstance(exc, psycopg.errors.QueryCanceled):
            self._drop()
            raise ProbeError(f"{what} hit statement_timeout")
        if isinstance(exc, psycopg.Error):
            if self.conn is not None and (self.conn.closed or self.conn.broken):
                self._drop()
            elif not isinstance(exc, psycopg.errors.ProgrammingError):
                self._drop()
            raise ProbeError(f"{what} failed: {_one_line(exc)}")
        self._drop()
        raise ProbeError(f"{what} failed: {exc!r}")

    def _drop(self) -> None:
        """Forget the connection: shut its socket down so any pending read
        ends, and close it once nothing uses it."""
        conn, self.conn = self.conn, None
        task, self._inflight = self._inflight, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            fd = conn.pgconn.socket
            s = socket.socket(fileno=os.dup(fd))
            try:
                s.shutdown(socket.SHUT_RDWR)
            finally:
                s.close()
        t = asyncio.ensure_future(self._close_later(conn, task))
        self._closing.add(t)
        t.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_later(conn: Any, task: asyncio.Future | None) -> None:
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=5.0)
            if not task.done():
                log.warning("a PostgreSQL operation did not end after its socket was shut down")
                return
        if task is not None and task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" noise
        with contextlib.suppress(Exception):
            await conn.close()

    async def close(self) -> None:
        self._drop()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=5.0)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
