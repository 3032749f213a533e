"""Probe scripts run inside lab namespaces, and a reader for their JSON-lines output."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def script(name: str) -> str:
    return str(HERE / name)


class JsonLines:
    """Collects a probe's stdout as JSON objects (non-JSON lines are kept as text)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[object] = []
        self._q: queue.Queue = queue.Queue()
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            raw = raw.strip()
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = raw
            self._q.put(obj)
        self._q.put(EOFError)

    def expect(self, predicate: Callable[[object], bool], timeout_s: float = 5.0) -> object:
        """The next output object that satisfies ``predicate``; AssertionError on timeout/EOF."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                obj = self._q.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(f"timeout waiting for probe output; got {self.lines}") from None
            if obj is EOFError:
                self._q.put(EOFError)
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"probe exited ({self.proc.poll()}); got {self.lines}\n{err}")
            self.lines.append(obj)
            if predicate(obj):
                return obj

    def key(self, name: str, timeout_s: float = 5.0) -> object:
        """The value of the next object having key ``name``."""
        obj = self.expect(lambda o: isinstance(o, dict) and name in o, timeout_s)
        return obj[name]  # type: ignore[index]


def run_json(lab, host: str, name: str, *args: object, timeout: float = 30) -> dict:
    """Run probe ``name`` in ``host`` to completion; its last stdout line as JSON."""
    proc = lab.run(host, PYTHON, script(name), *map(str, args), timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines, f"{name} printed nothing; stderr: {proc.stderr}"
    return json.loads(lines[-1])


def start(lab, host: str, name: str, *args: object) -> JsonLines:
    """Start probe ``name`` in ``host`` (killed and reaped at lab close)."""
    proc = lab.popen(
        host, [PYTHON, script(name), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return JsonLines(proc)
