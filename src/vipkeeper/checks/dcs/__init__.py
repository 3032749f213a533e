"""``vrrp_dcs``: an etcd v3 key decides which host may hold the VIP (docs/vrrp_dcs.md).

- follow mode (``key``/``value``; Patroni's leader key, vip-manager compatible): passes
  while the key holds ``value`` (default: the host name).  A watch re-reads at once on a
  change; a linearizable read every ``interval`` decides.
- lock mode (``lock``/``ttl``): while the daemon says this host is eligible (every other
  tracker of its instances passes), creates the key bound to a lease if it is absent and
  keeps the lease alive; passes while holding it; revokes the lease at once when ineligible
  and at stop.

Both modes keep passing through an etcd outage only while the key provably cannot have
passed to another host, and fail a margin before it could (:mod:`.decide`).

No dependency: the client (:mod:`.client`) speaks HTTP/1.1 + JSON to etcd's gateway.
Modules: ``decide`` (the pure arithmetic and verdict), ``session`` (every decision, sans-IO),
``client`` (etcd), ``tracker`` (the asyncio driver of a session over the client).
"""

from __future__ import annotations

from vipkeeper.checks.dcs.client import EtcdClient, EtcdError
from vipkeeper.checks.dcs.decide import Confirmation, Verdict, classify, judge
from vipkeeper.checks.dcs.session import DcsState
from vipkeeper.checks.dcs.tracker import DcsTracker

__all__ = ["Confirmation", "DcsState", "DcsTracker", "EtcdClient", "EtcdError", "Verdict", "classify", "judge"]
