"""lazy_ssl: asyncio without ssl for a plain config, and TLS given back on demand."""

from __future__ import annotations

import subprocess
import sys

PROBE = r"""
import sys
from vipkeeper.lazy_ssl import enable_asyncio_tls, import_asyncio
import_asyncio(False)
import asyncio
from asyncio import base_events
print("ssl loaded:", "ssl" in sys.modules, "asyncio ssl:", base_events.ssl)

async def main():
    async def garbage(reader, writer):
        writer.write(b"not a TLS server\r\n" * 10)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    import ssl
    ctx = ssl.create_default_context()
    try:
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 5)
    except ssl.SSLError as exc:
        print("tls error:", type(exc).__name__)
    server.close()

enable_asyncio_tls()
enable_asyncio_tls()  # idempotent
asyncio.run(main())
"""


def test_plain_start_has_no_ssl_and_tls_works_after_enabling() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "ssl loaded: False asyncio ssl: None"
    assert lines[1].startswith("tls error: SSL")  # the TLS handshake ran (and failed on garbage)
