"""Shared test helpers: skip locally, fail in CI, when the environment cannot run a test.

Use from any test module::

    from tests.conftest import require_binary, require_netns
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip the test with ``reason`` locally; fail it when CI=true (CI must run everything)."""
    if in_ci():
        pytest.fail(f"CI=true but: {reason}", pytrace=False)
    pytest.skip(reason)


def require_netns() -> None:
    """Root, iproute2, network namespaces and veth links must work."""
    from lab.netns import netns_unavailable_reason

    reason = netns_unavailable_reason()
    if reason:
        unavailable(reason)


def require_binary(name: str, *extra_dirs: str) -> str:
    """The path of executable ``name`` (PATH, the sbin directories, ``extra_dirs``), else skip/fail."""
    path = shutil.which(name) or shutil.which(
        name, path=os.pathsep.join(("/usr/sbin", "/sbin", "/usr/local/sbin", *extra_dirs))
    )
    if path is None:
        unavailable(f"{name} is not installed")
    return path  # type: ignore[return-value]
