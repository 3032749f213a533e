"""Optional Prometheus endpoint (``global_defs { metrics_listen 127.0.0.1:9650 }``
or ``vipkeeper run --metrics-listen``).

Metrics are computed at scrape time from the status snapshot, so the packet
path pays nothing for them.  The HTTP server runs in the daemon's event loop
(no thread touches daemon state).  prometheus-client is an optional
dependency (extra ``metrics``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

STATES = ("INIT", "BACKUP", "MASTER", "FAULT", "STOP")


class DaemonCollector:
    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self._status()
        state = GaugeMetricFamily(
            "vipkeeper_instance_state", "1 for the instance's current VRRP state", labels=["instance", "state"]
        )
        prio = GaugeMetricFamily(
            "vipkeeper_instance_effective_priority", "Effective VRRP priority", labels=["instance"]
        )
        base = GaugeMetricFamily("vipkeeper_instance_priority", "Configured VRRP priority", labels=["instance"])
        held = GaugeMetricFamily(
            "vipkeeper_instance_vips_held", "1 while this host holds the instance's VIPs", labels=["instance"]
        )
        age = GaugeMetricFamily(
            "vipkeeper_master_last_advert_age_seconds",
            "Seconds since the last valid advert from the master",
            labels=["instance"],
        )
        trans = CounterMetricFamily("vipkeeper_state_transitions", "VRRP state changes", labels=["instance"])
        sent = CounterMetricFamily("vipkeeper_adverts_sent", "Adverts sent", labels=["instance"])
        recv = CounterMetricFamily("vipkeeper_adverts_received", "Valid adverts received", labels=["instance"])
        drops = CounterMetricFamily(
            "vipkeeper_advert_drops", "Received adverts dropped, by reason", labels=["instance", "reason"]
        )
        garp = CounterMetricFamily(
            "vipkeeper_gratuitous_sent", "Gratuitous ARPs / unsolicited NAs sent", labels=["instance"]
        )
        tr_up = GaugeMetricFamily(
            "vipkeeper_tracker_up", "1 while the tracker is OK", labels=["instance", "tracker", "kind"]
        )
        tr_lat = GaugeMetricFamily(
            "vipkeeper_tracker_latency_seconds", "Duration of the tracker's last run", labels=["tracker", "kind"]
        )
        pg_role = GaugeMetricFamily(
            "vipkeeper_pgsql_role", "1 for the PostgreSQL role the check last saw", labels=["tracker", "role"]
        )
        pg_tl = GaugeMetricFamily(
            "vipkeeper_pgsql_timeline", "PostgreSQL timeline the check last saw", labels=["tracker"]
        )
        seen_tr: set[str] = set()
        for i in st["instances"]:
            n = i["name"]
            for s in STATES:
                state.add_metric([n, s], 1.0 if i["state"] == s else 0.0)
            prio.add_metric([n], i["effective_priority"])
            base.add_metric([n], i["priority"])
            held.add_metric([n], 1.0 if i["vips_held"] else 0.0)
            if i["master"]["last_advert_age_s"] is not None:
                age.add_metric([n], i["master"]["last_advert_age_s"])
            c = i["counters"]
            trans.add_metric([n], c["transitions"])
            sent.add_metric([n], c["adverts_sent"])
            recv.add_metric([n], c["adverts_received"])
            garp.add_metric([n], c["garp_sent"])
            for reason, count in c["drops"].items():
                drops.add_metric([n, reason], count)
            for t in i["trackers"]:
                tr_up.add_metric([n, t["name"], t["kind"]], 1.0 if t["status"] == "OK" else 0.0)
                if t["name"] in seen_tr:
                    continue
                seen_tr.add(t["name"])
                if "latency_s" in t:
                    tr_lat.add_metric([t["name"], t["kind"]], t["latency_s"])
                if t.get("role"):
                    pg_role.add_metric([t["name"], t["role"]], 1.0)
                if t.get("timeline") is not None:
                    pg_tl.add_metric([t["name"]], t["timeline"])
        unknown = CounterMetricFamily("vipkeeper_packets_unknown_vrid", "Packets for a VRID we do not run")
        unknown.add_metric([], st["packets"]["unknown_vrid"])
        dec = CounterMetricFamily(
            "vipkeeper_packet_decode_errors", "Packets that failed to decode, by reason", labels=["reason"]
        )
        for reason, count in st["packets"]["decode_errors"].items():
            dec.add_metric([reason], count)
        yield from (
            state,
            prio,
            base,
            held,
            age,
            trans,
            sent,
            recv,
            drops,
            garp,
            tr_up,
            tr_lat,
            pg_role,
            pg_tl,
            unknown,
            dec,
        )


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"metrics_listen {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class MetricsServer:
    def __init__(self, status: Callable[[], dict[str, Any]], listen: str) -> None:
        from prometheus_client import CollectorRegistry

        self.host, self.port = parse_listen(listen)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DaemonCollector(status))
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.split()
            if len(parts) >= 2 and parts[0] == b"GET" and parts[1].split(b"?")[0] == b"/metrics":
                body = generate_latest(self.registry)
                head = f"HTTP/1.0 200 OK\r\nContent-Type: {CONTENT_TYPE_LATEST}\r\n"
            else:
                body = b"not found: try /metrics\n"
                head = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.debug("metrics client: %s", exc)
        finally:
            writer.close()
