"""Prometheus exporter: serves each cycle's metric points over HTTP.

Enabled by OBSERVABILITY_METRICS_EXPORTER=prometheus (host and port from
OBSERVABILITY_PROMETHEUS_HOST / _PORT).

Names are `btcbot_<name>` for the names in btcbot_engine/metrics.py:
- per-cycle counts (`metrics.COUNT_METRICS`: orders, rejects, fills, 429s, retries, reconnects)
  are counters; the exposition adds `_total` (`btcbot_rest_429_rate_total`), so `rate()` works
  however seldom the scraper comes;
- the submit and cancel latencies are histograms in milliseconds, labelled by symbol;
- everything else is a gauge holding the last cycle's value (`btcbot_risk_mode` is 0/1/2),
  absent until a cycle has reported it (no made-up zero for an unknown clock skew).
`btcbot_cycles_total` counts the cycles observed.

The registry is this exporter's own (never the global one), so two engines in one process or a
test never collide. Values become floats here because the exposition format has no decimals;
the database keeps the exact Decimals. The server binds 127.0.0.1 unless another host is
configured, runs in a daemon thread, and `stop()` shuts it down and releases the port.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import start_wsgi_server
from prometheus_client.registry import Collector

from btcbot_engine import metrics as m
from btcbot_engine.config import Settings
from btcbot_engine.domain.records import MetricPoint

log = logging.getLogger(__name__)

PREFIX = "btcbot_"
#: Histogram buckets for submit/cancel latency, in milliseconds.
LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

_HELP: dict[str, str] = {
    m.CYCLE_DURATION_MS: "duration of the last cycle in ms",
    m.ORDERS_SUBMITTED: "orders the exchange acknowledged",
    m.STALE_MARKET_DATA: "non-tradable quotes in the last cycle",
    m.EQUITY_TRY: "equity in TRY after the last cycle",
    m.ORDERS_REJECTED: "orders the exchange rejected",
    m.FILLS: "new fills ingested",
    m.ORDER_SUBMIT_LATENCY_MS: "order submit call latency in ms",
    m.CANCEL_LATENCY_MS: "order cancel call latency in ms",
    m.REST_429_RATE: "HTTP 429 replies from the exchange",
    m.REST_RETRY_RATE: "REST request retries",
    m.WS_RECONNECT_RATE: "WebSocket feed reconnects",
    m.STALE_MARKET_DATA_RATE: "share of the universe with stale or missing quotes (0..1)",
    m.RECONCILE_LAG_MS: "age of the oldest unresolved UNKNOWN order in ms (0 if none)",
    m.CIRCUIT_BREAKER_STATE: "1 when the last cycle was forced to observe or failed, else 0",
    m.CLOCK_SKEW_MS: "server clock minus local clock in ms",
    m.REALIZED_PNL_TRY: "realized PnL in TRY",
    m.UNREALIZED_PNL_TRY: "unrealized PnL in TRY",
    m.FEES_TRY: "fees paid in TRY",
    m.DRAWDOWN_PCT: "drawdown from peak equity in percent",
    m.OPEN_ORDERS: "our non-terminal orders",
    m.RISK_MODE: "risk mode: 0 NORMAL, 1 REDUCE_RISK_ONLY, 2 OBSERVE_ONLY",
}


class ExporterError(Exception):
    """The exporter could not start (bad host, port in use); the message says which."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _LastValues(Collector):
    """Gauges holding the last reported value of each per-cycle metric (only those reported)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = {}

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self._values[name] = value

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(PREFIX + name, _HELP[name])
            for name in m.ALL_METRICS
            if name not in m.LATENCY_METRICS and name not in m.COUNT_METRICS
        ]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            values = dict(self._values)
        return [
            GaugeMetricFamily(PREFIX + name, _HELP[name], value=values[name])
            for name in m.ALL_METRICS
            if name in values
        ]


class PrometheusExporter:
    """Metric families in a private registry, served over HTTP between `start()` and `stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9464) -> None:
        self.host = host
        self.port = port
        self.registry = CollectorRegistry(auto_describe=True)
        self._gauges = _LastValues()
        self.registry.register(self._gauges)
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        for name in m.ALL_METRICS:
            full, doc = PREFIX + name, _HELP.get(name, name)
            if name in m.LATENCY_METRICS:
                self._histograms[name] = Histogram(
                    full, doc, ["symbol"], registry=self.registry, buckets=LATENCY_BUCKETS_MS
                )
            elif name in m.COUNT_METRICS:
                self._counters[name] = Counter(full, doc, registry=self.registry)
        self._cycles = Counter(PREFIX + "cycles", "cycles observed", registry=self.registry)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True between a successful `start()` and `stop()`."""
        return self._server is not None

    @property
    def bound(self) -> tuple[str, int]:
        """The (host, port) the server listens on (the real port when 0 was asked for)."""
        if self._server is None:
            raise ExporterError("the exporter is not running")
        address = self._server.server_address
        return str(address[0]), int(address[1])

    def start(self) -> None:
        """Bind and serve in a daemon thread; ExporterError if the address cannot be used."""
        if self._server is not None:
            return
        try:
            server, thread = start_wsgi_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ExporterError(
                f"prometheus exporter cannot listen on {self.host}:{self.port}: {reason}"
            ) from None
        self._server, self._thread = server, thread
        host, port = self.bound
        if not is_loopback(self.host):
            log.warning("prometheus exporter listens on %s:%d, beyond this machine", host, port)
        else:
            log.info("prometheus exporter listens on %s:%d", host, port)

    def stop(self) -> None:
        """Stop serving and release the port (safe to call twice or before start)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def observe(self, points: Iterable[MetricPoint]) -> None:
        """Fold one cycle's points into the families (counters add, gauges take the value)."""
        seen_cycle = False
        for p in points:
            value = float(p.value)
            if p.name in self._histograms:
                symbol = str(p.labels.get("symbol", "")) if p.labels else ""
                self._histograms[p.name].labels(symbol=symbol).observe(value)
            elif p.name in self._counters:
                if value > 0:
                    self._counters[p.name].inc(value)
            elif p.name in _HELP:
                self._gauges.set(p.name, value)
            if p.name == m.CYCLE_DURATION_MS:
                seen_cycle = True
        if seen_cycle:
            self._cycles.inc()


def exporter_from_settings(settings: Settings) -> PrometheusExporter | None:
    """The configured exporter (not started), or None when OBSERVABILITY_METRICS_EXPORTER=none."""
    if settings.observability_metrics_exporter != "prometheus":
        return None
    return PrometheusExporter(
        settings.observability_prometheus_host, settings.observability_prometheus_port
    )
