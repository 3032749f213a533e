"""Start asyncio without :mod:`ssl` when the configuration has no use for TLS.

``import asyncio`` imports ``ssl`` (asyncio/base_events.py, sslproto.py, selector_events.py:
``try: import ssl except ImportError: ssl = None``), and with it OpenSSL: measured on Python
3.11.7 here, +4.5 MB RSS on a bare ``import asyncio`` and +1.4 MB (~10 ms) on the whole daemon
(bench/results/2026-11-30-perf/README.md).  Only ``vrrp_dcs`` (etcd over https), ``vrrp_pgsql``
(psycopg imports ssl) and the metrics listener (prometheus_client) can use it, so
:func:`import_asyncio` hides ``ssl`` while asyncio loads unless the configuration has one of
those; asyncio then runs exactly as on a Python built without ssl.  A reload that adds one of
them calls :func:`enable_asyncio_tls` first, which gives asyncio the module it would have had.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vipkeeper.config.model import Config

__all__ = ["enable_asyncio_tls", "import_asyncio", "needs_tls"]


def needs_tls(config: Config, metrics_listen: str | None = None) -> bool:
    return bool(config.dcs_checks or config.pgsql_checks or metrics_listen or config.global_defs.metrics_listen)


def import_asyncio(with_ssl: bool) -> None:
    """Import asyncio, without ssl unless ``with_ssl`` (no effect once either is loaded)."""
    if with_ssl or "asyncio" in sys.modules or "ssl" in sys.modules:
        import asyncio  # noqa: F401

        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # import ssl -> ImportError, as without OpenSSL
    try:
        import asyncio  # noqa: F401
    finally:
        if sys.modules.get("ssl", 0) is None:
            del sys.modules["ssl"]  # a later `import ssl` loads the real module


def enable_asyncio_tls() -> None:
    """Give asyncio the ssl module if :func:`import_asyncio` started it without (idempotent)."""
    import ssl
    from asyncio import base_events, selector_events, sslproto

    if getattr(sslproto, "ssl", ssl) is None:
        sslproto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)
        for mod in (sslproto, base_events, selector_events):
            setattr(mod, "ssl", ssl)  # noqa: B010 (typeshed does not declare these module globals)
