"""The optional HTTP listener (``global_defs { metrics_listen 127.0.0.1:9650 }`` or
``vipkeeper run --metrics-listen``): ``/metrics``, ``/status`` and ``/healthz``.

The listener runs in its own small thread, so that it can still answer when the
daemon's event loop is wedged (a callback that never returns): that is what
``/healthz`` is for.  The thread never touches daemon state.  ``/metrics`` and
``/status`` ask the loop for the status dict (``call_soon_threadsafe``) and wait
at most :data:`LOOP_ANSWER_TIMEOUT_S` for it; ``/healthz`` only reads the age of
a :class:`Heartbeat` the loop stamps every :data:`HEARTBEAT_INTERVAL_S`.

Metrics are computed at scrape time from the status dict, so the packet path
pays nothing for them.  prometheus-client is an optional dependency (extra
``metrics``); without it ``/metrics`` answers 501 and the other paths work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vipkeeper import __version__
from vipkeeper.core.events import ROUTER_DROP_REASONS

log = logging.getLogger(__name__)

STATES = ("INIT", "BACKUP", "MASTER", "FAULT", "STOP")
HEARTBEAT_INTERVAL_S = 0.5
# /healthz answers 503 once the loop has not stamped the heartbeat for this long.
WEDGED_AFTER_S = 5.0
# /metrics and /status wait this long for the loop to hand over the status.
LOOP_ANSWER_TIMEOUT_S = 5.0
ALARMS = ("split_brain", "wrong_cluster")
# Per-instance drop reasons are exported as 0 until they happen, so that rate()/increase()
# see the first drop and dashboards have a series to draw.
ADVERT_DROP_REASONS = ROUTER_DROP_REASONS

StatusCallback = Callable[[], dict[str, Any]]


def _alarm_kind(text: str | None) -> str | None:
    if not text:
        return None
    if text.startswith("SPLIT BRAIN"):
        return "split_brain"
    if text.startswith("WRONG CLUSTER"):
        return "wrong_cluster"
    return None


class DaemonCollector:
    """prometheus-client collector over one status dict (see README "Metrics")."""

    def __init__(self, status: StatusCallback) -> None:
        self._status = status

    def collect(self) -> Iterator[Any]:  # noqa: C901 - one flat list of metric families
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self._status()
        il = ["instance", "vrid", "interface"]  # every per-instance metric carries these
        info = GaugeMetricFamily("vipkeeper_build_info", "Always 1; the daemon's version", labels=["version"])
        info.add_metric([str(st.get("version", __version__))], 1.0)
        state = GaugeMetricFamily(
            "vipkeeper_instance_state", "1 for the instance's current VRRP state", labels=[*il, "state"]
        )
        prio = GaugeMetricFamily("vipkeeper_instance_effective_priority", "Effective VRRP priority", labels=il)
        base = GaugeMetricFamily("vipkeeper_instance_priority", "Configured VRRP priority", labels=il)
        advint = GaugeMetricFamily(
            "vipkeeper_instance_advert_interval_seconds", "Configured advertisement interval", labels=il
        )
        held = GaugeMetricFamily(
            "vipkeeper_instance_vips_held", "1 while this host holds the instance's VIPs", labels=il
        )
        vip = GaugeMetricFamily(
            "vipkeeper_vip_held",
            "1 while this host holds the VIP; summed over hosts: the VIP's holders",
            labels=[*il, "vip"],
        )
        age = GaugeMetricFamily(
            "vipkeeper_master_last_advert_age_seconds",
            "Seconds since the last valid advert from the master (absent on the master)",
            labels=il,
        )
        trans = CounterMetricFamily("vipkeeper_state_transitions", "VRRP state changes", labels=il)
        sent = CounterMetricFamily("vipkeeper_adverts_sent", "Adverts sent", labels=il)
        recv = CounterMetricFamily("vipkeeper_adverts_received", "Valid adverts received", labels=il)
        drops = CounterMetricFamily(
            "vipkeeper_advert_drops", "Received adverts dropped, by reason", labels=[*il, "reason"]
        )
        garp = CounterMetricFamily("vipkeeper_gratuitous_sent", "Gratuitous ARPs / unsolicited NAs sent", labels=il)
        tr_up = GaugeMetricFamily("vipkeeper_tracker_up", "1 while the tracker is OK", labels=[*il, "tracker", "kind"])
        tr_lat = GaugeMetricFamily(
            "vipkeeper_tracker_latency_seconds", "Duration of the tracker's last run", labels=["tracker", "kind"]
        )
        pg_role = GaugeMetricFamily(
            "vipkeeper_pgsql_role", "1 for the PostgreSQL role the check last saw", labels=["tracker", "role"]
        )
        pg_tl = GaugeMetricFamily(
            "vipkeeper_pgsql_timeline", "PostgreSQL timeline the check last saw", labels=["tracker"]
        )
        pg_alarm = GaugeMetricFamily(
            "vipkeeper_pgsql_alarm",
            "1 while the vrrp_pgsql check sees a split brain or a wrong cluster",
            labels=["tracker", "alarm"],
        )
        dcs_up = GaugeMetricFamily(
            "vipkeeper_dcs_up", "1 while etcd answers the vrrp_dcs tracker's requests", labels=["tracker", "mode"]
        )
        dcs_lease = GaugeMetricFamily(
            "vipkeeper_dcs_lease_remaining_seconds",
            "How much longer the vrrp_dcs tracker trusts its last confirmation (0: none)",
            labels=["tracker"],
        )
        dcs_age = GaugeMetricFamily(
            "vipkeeper_dcs_last_ok_age_seconds", "Seconds since etcd last answered the tracker", labels=["tracker"]
        )
        dcs_err = CounterMetricFamily("vipkeeper_dcs_errors", "Failed etcd requests", labels=["tracker"])
        dcs_holder = GaugeMetricFamily(
            "vipkeeper_dcs_holder", "1 for the holder the vrrp_dcs tracker last saw", labels=["tracker", "holder"]
        )
        seen_tr: set[str] = set()
        for i in st["instances"]:
            lv = [i["name"], str(i["vrid"]), i["interface"]]
            for s in STATES:
                state.add_metric([*lv, s], 1.0 if i["state"] == s else 0.0)
            prio.add_metric(lv, i["effective_priority"])
            base.add_metric(lv, i["priority"])
            advint.add_metric(lv, i["advert_int_s"])
            held.add_metric(lv, 1.0 if i["vips_held"] else 0.0)
            for v in i["vips"]:
                vip.add_metric([*lv, v], 1.0 if i["vips_held"] else 0.0)
            if i["master"]["last_advert_age_s"] is not None and not i["master"]["is_self"]:
                age.add_metric(lv, i["master"]["last_advert_age_s"])
            c = i["counters"]
            trans.add_metric(lv, c["transitions"])
            sent.add_metric(lv, c["adverts_sent"])
            recv.add_metric(lv, c["adverts_received"])
            garp.add_metric(lv, c["garp_sent"])
            for reason, count in {**dict.fromkeys(ADVERT_DROP_REASONS, 0), **c["drops"]}.items():
                drops.add_metric([*lv, reason], count)
            for t in i["trackers"]:
                tr_up.add_metric([*lv, t["name"], t["kind"]], 1.0 if t["status"] == "OK" else 0.0)
                if t["name"] in seen_tr:
                    continue
                seen_tr.add(t["name"])
                if "latency_s" in t:
                    tr_lat.add_metric([t["name"], t["kind"]], t["latency_s"])
                if t.get("role"):
                    pg_role.add_metric([t["name"], t["role"]], 1.0)
                if t.get("timeline") is not None:
                    pg_tl.add_metric([t["name"]], t["timeline"])
                if t["kind"] == "dcs":
                    dcs_up.add_metric([t["name"], t["mode"]], 1.0 if t["etcd_up"] else 0.0)
                    dcs_lease.add_metric([t["name"]], t["lease_remaining_s"] or 0.0)
                    if t["last_ok_age_s"] is not None:
                        dcs_age.add_metric([t["name"]], t["last_ok_age_s"])
                    dcs_err.add_metric([t["name"]], t["etcd_errors"])
                    if t["holder"] is not None:
                        dcs_holder.add_metric([t["name"], t["holder"]], 1.0)
                if t["kind"] == "pgsql":
                    kind = _alarm_kind(t.get("alarm"))
                    for a in ALARMS:
                        pg_alarm.add_metric([t["name"], a], 1.0 if kind == a else 0.0)
        unknown = CounterMetricFamily("vipkeeper_packets_unknown_vrid", "Packets for a VRID we do not run")
        unknown.add_metric([], st["packets"]["unknown_vrid"])
        dec = CounterMetricFamily(
            "vipkeeper_packet_decode_errors", "Packets that failed to decode, by reason", labels=["reason"]
        )
        for reason, count in st["packets"]["decode_errors"].items():
            dec.add_metric([reason], count)
        yield from (info, state, prio, base, advint, held, vip, age, trans, sent, recv, drops, garp, tr_up, tr_lat,
                    pg_role, pg_tl, pg_alarm, dcs_up, dcs_lease, dcs_age, dcs_err, dcs_holder, unknown,
                    dec)  # fmt: skip


def render_metrics(st: dict[str, Any]) -> bytes:
    """The Prometheus text exposition of one status dict."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(lambda: st))
    return bytes(generate_latest(registry))


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"metrics_listen {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class Heartbeat:
    """The loop's pulse: the loop stamps it every ``interval_s``; any thread reads its age."""

    def __init__(self, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.last_monotonic = time.monotonic()
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._beat()

    def _beat(self) -> None:
        self.last_monotonic = time.monotonic()  # one float store: atomic for the reading thread
        assert self._loop is not None
        self._handle = self._loop.call_later(self.interval_s, self._beat)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def age_s(self) -> float:
        return time.monotonic() - self.last_monotonic


class LoopWedged(Exception):
    """The event loop did not answer in time."""


class MetricsServer:
    """The HTTP listener; one thread accepts, one short-lived thread per request."""

    def __init__(self, status: StatusCallback, listen: str, *, wedged_after_s: float = WEDGED_AFTER_S,
                 heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
                 loop_answer_timeout_s: float = LOOP_ANSWER_TIMEOUT_S) -> None:  # fmt: skip
        self.host, self.port = parse_listen(listen)
        self.status = status
        self.wedged_after_s = wedged_after_s
        self.loop_answer_timeout_s = loop_answer_timeout_s
        self.heartbeat = Heartbeat(heartbeat_interval_s)
        self.has_prometheus_client = _has_prometheus_client()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Bind (OSError if the address is taken or not ours) and start serving."""
        self._loop = asyncio.get_running_loop()
        server_cls = _Server6 if ":" in self.host else _Server
        httpd = server_cls((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self.heartbeat.start(self._loop)
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="vipkeeper-http", daemon=True)  # fmt: skip
        self._thread.start()
        log.info("HTTP on %s: /metrics%s, /status, /healthz", self.url, "" if self.has_prometheus_client
                 else " (501: prometheus-client is not installed, pip install 'vipkeeper[metrics]')")  # fmt: skip

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        self.heartbeat.stop()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            await asyncio.get_running_loop().run_in_executor(None, httpd.shutdown)
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    # ------------------------------------------------------------ called from the HTTP threads

    def status_from_loop(self) -> dict[str, Any]:
        """The status dict, computed on the loop's thread; LoopWedged if it does not answer."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise LoopWedged("the event loop is gone")
        fut: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

        def on_loop() -> None:
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(self.status())
                except BaseException as exc:  # handed to the waiting thread
                    fut.set_exception(exc)

        try:
            loop.call_soon_threadsafe(on_loop)
            return fut.result(timeout=self.loop_answer_timeout_s)
        except RuntimeError as exc:  # loop closed meanwhile
            raise LoopWedged(str(exc)) from exc
        except concurrent.futures.TimeoutError as exc:
            fut.cancel()
            raise LoopWedged(f"the event loop did not answer within {self.loop_answer_timeout_s:g} s") from exc

    def health(self) -> tuple[int, dict[str, Any]]:
        age = self.heartbeat.age_s()
        alive = age <= self.wedged_after_s
        body = {"status": "ok" if alive else "wedged", "loop_heartbeat_age_s": round(age, 3),
                "wedged_after_s": self.wedged_after_s}  # fmt: skip
        return (200 if alive else 503), body


def _has_prometheus_client() -> bool:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: MetricsServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look up the address's FQDN (DNS, in the loop's thread).
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"vipkeeper/{__version__}"
    sys_version = ""
    timeout = 5

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                code, health = owner.health()
                self._send(code, "application/json", _json(health), send_body)
            elif path == "/status":
                self._send(200, "application/json", _json(owner.status_from_loop()), send_body)
            elif path == "/metrics":
                if not owner.has_prometheus_client:
                    self._send(501, "text/plain; charset=utf-8",
                               b"prometheus-client is not installed: pip install 'vipkeeper[metrics]'\n",
                               send_body)  # fmt: skip
                    return
                from prometheus_client import CONTENT_TYPE_LATEST

                self._send(200, CONTENT_TYPE_LATEST, render_metrics(owner.status_from_loop()), send_body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics, /status or /healthz\n",
                           send_body)  # fmt: skip
        except LoopWedged as exc:
            self._send(503, "application/json", _json({"status": "wedged", "error": str(exc)}), send_body)
        except Exception:  # a bug must not kill the listener thread silently
            log.exception("HTTP %s", path)
            self._send(500, "text/plain; charset=utf-8", b"internal error\n", send_body)

    def _send(self, code: int, ctype: str, body: bytes, send_body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("HTTP %s %s", self.address_string(), format % args)


def _json(d: dict[str, Any]) -> bytes:
    return (json.dumps(d, indent=None, separators=(",", ":")) + "\n").encode()
