"""Kept for callers not yet moved to :mod:`vipkeeper.config.load`, which has these entry points."""

from __future__ import annotations

from vipkeeper.config.load import load_config, parse_file, parse_string

__all__ = ["load_config", "parse_file", "parse_string"]
