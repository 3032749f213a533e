"""Task supervision: the daemon is whole or it stops.

Every long-running task of the daemon (link watch, trackers, notify, VIP
workers, reloads) is started here.  The first task that ends with an
unexpected exception, or a callback that raises into the event loop (the
timer), makes the daemon stop loudly: the traceback is logged, the shutdown
path releases the VIPs, and the process exits non-zero so that systemd
(``Restart=on-failure``) starts it again.  Never half alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, on_fatal: Callable[[], None]) -> None:
        self._on_fatal = on_fatal
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failure: str | None = None  # what stopped the daemon, if anything did

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Route exceptions from loop callbacks (the timer) to :meth:`fail` too."""
        loop.set_exception_handler(self._loop_exception)

    def fail(self, what: str, exc: BaseException | None) -> None:
        if exc is not None:
            log.critical(
                "%s failed: %s: %s; stopping (VIPs are released, exit status 1)",
                what,
                type(exc).__name__,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
        else:
            log.critical("%s failed; stopping (VIPs are released, exit status 1)", what)
        if self.failure is None:
            self.failure = what
        self._on_fatal()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.fail(f"task {task.get_name()}", exc)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, (asyncio.CancelledError, ConnectionError)) and "handle" not in context:
            loop.default_exception_handler(context)  # a client went away: not ours to die of
            return
        self.fail(str(context.get("message", "event loop callback")), exc)

    async def cancel_all(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
