"""The small error hierarchy of vipkeeper.

Everything vipkeeper raises on purpose derives from :class:`VipkeeperError`.
"""

from __future__ import annotations


class VipkeeperError(Exception):
    """Base of every error vipkeeper raises on purpose."""


class ConfigError(VipkeeperError):
    """A problem in a configuration file, located by file and line."""

    def __init__(self, file: str, line: int, msg: str) -> None:
        super().__init__(f"{file}:{line}: error: {msg}")
        self.file = file
        self.line = line
        self.msg = msg


class DecodeError(VipkeeperError):
    """A received packet failed validation; ``reason`` is a short stable tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
