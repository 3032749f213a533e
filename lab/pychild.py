"""A Python snippet run in a lab host's namespace, its output read line by line (probes, mirrors,
proxies of the vrrp_dcs lab)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from typing import Self

from lab.netns import Lab


class PythonChild:
    """A Python snippet run in a host's namespace (this interpreter); each line it prints goes to
    :meth:`on_line`, in a thread.  :meth:`stop` kills it; also a context manager."""

    def __init__(self, lab: Lab, host: str, code: str, *args: str) -> None:
        self.proc = lab.popen(
            host, [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.on_line(line)

    def on_line(self, line: str) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
