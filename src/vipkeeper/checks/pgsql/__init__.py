"""``vrrp_pgsql``: the node passes only while its PostgreSQL is a writable primary.

In-process, with psycopg 3 (async), an optional dependency (``pip install
'vipkeeper[pgsql]'``) imported only when a config uses ``vrrp_pgsql``.

What one probe asks the local server (one persistent connection, reconnected
when lost)::

    pg_is_in_recovery()                    -- false on a primary (PostgreSQL 10+;
                                           -- no reliance on standby.signal)
    current_setting('transaction_read_only') -- off: writable
    pg_walfile_name(pg_current_wal_lsn())  -- primary only: first 8 hex digits
                                           -- are the timeline it writes on now

Timeline of a primary: ``pg_control_checkpoint().timeline_id`` is the timeline
of the last checkpoint, and after a promotion PostgreSQL 15 writes an
end-of-recovery record and only *requests* a checkpoint, so that column can
show the old timeline for a while.  The WAL file name of the current insert
position is built from the timeline the server inserts on
(``GetWALInsertionTimeLine()``), so it changes at the moment of promotion.
``pg_current_wal_lsn()`` raises on a standby, hence the CASE.

``system_identifier`` (``pg_control_system()``) is read once per connection
(it cannot change while a server runs); a role that may not read it gets None
and the identity check is skipped for that server.

Fencing (``peer_conninfo``, repeatable): the peers are probed in the
background (one persistent connection each) and the last answer that is not
older than ``2 × (interval + timeout)`` is used.  The local node fails when a
reachable peer

- has another ``system_identifier`` (not the same cluster: the peer list is wrong),
- is a writable primary on a higher timeline (we are the stale old primary),
- is a writable primary on the same timeline (two primaries: no VIP anywhere
  is safer than a VIP on the wrong one).

A peer that is a primary on a *lower* timeline is stale: it does not make us
fail (its own check fails).  An unreachable peer blocks nothing.  The first
verdict waits for the first answer (or failure) of every peer, so a restarted
daemon on a stale primary cannot pass before it has looked at its peers.

Every probe is bounded by ``timeout``: asyncio deadlines around connect and
query, plus ``connect_timeout`` and ``statement_timeout`` on the server side.
A timed-out query is *not* cancelled through asyncio: psycopg answers a
cancellation by sending a cancel request and waiting for the server again (up
to 5 + 5 s in psycopg 3.3, forever in older 3.x), which is exactly what a
SIGSTOPped server never answers.  Instead the socket is shut down, psycopg's
pending read sees end of file and fails, and the connection is thrown away.

With ``data_directory``, an inotify watch on the directory (``standby.signal``
removed, ``promote`` created, ``postmaster.pid`` created/changed/removed)
triggers a probe at once, then probes every 20 ms for a second: PostgreSQL
removes ``standby.signal`` a moment *before* ``pg_is_in_recovery()`` turns false.

Modules: ``decide`` (the pure decision), ``connection`` (one server, bounded probes),
``peers`` (background peer probes), ``check`` (the tracker).
"""

from __future__ import annotations

from vipkeeper.checks.pgsql.check import PgCheckState, PgsqlCheck
from vipkeeper.checks.pgsql.connection import (
    PgConnection,
    ProbeError,
    Prober,
    PsycopgMissing,
    conninfo_label,
    import_psycopg,
)
from vipkeeper.checks.pgsql.decide import PeerView, PgFacts, Verdict, decide
from vipkeeper.checks.pgsql.peers import PeerState, PeerWatcher

__all__ = [
    "PeerState",
    "PeerView",
    "PeerWatcher",
    "PgCheckState",
    "PgConnection",
    "PgFacts",
    "PgsqlCheck",
    "ProbeError",
    "Prober",
    "PsycopgMissing",
    "Verdict",
    "conninfo_label",
    "decide",
    "import_psycopg",
]
