"""Fixtures for the real-PostgreSQL cluster tests (root, namespaces, PostgreSQL 15, repmgr).

Without them the tests are skipped locally and fail when CI=true
(see :func:`tests.conftest.unavailable`).
"""

from __future__ import annotations

import pytest

from tests.conftest import require_netns, unavailable


@pytest.fixture(scope="module")
def pg_env() -> None:
    require_netns()
    from lab import netns as lablib
    from lab.pg import pg_unavailable_reason

    why = pg_unavailable_reason()
    if why:
        unavailable(why)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg 3 is not installed (pip install 'vipkeeper[pgsql]')")
    lablib.cleanup_stale()
