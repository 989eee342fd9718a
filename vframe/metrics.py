"""What the service counts, in Prometheus' text format at /-/metrics. prometheus_client is the
reference implementation of the format (histogram buckets, escaping, _total/_created series);
writing those by hand would be more code and less right."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
RESTART_REASONS = ("crash", "deadline", "memory", "recycle")


class Metrics:
    """One registry per application, so that two apps in one process never share counters."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("vframe_requests", "HTTP requests answered, by status.", ["status"], registry=registry)
        self.request_seconds = Histogram(
            "vframe_request_seconds", "Time from a request's arrival to its response.", registry=registry
        )
        self.queued_seconds = Histogram(
            "vframe_queued_seconds", "Time a frame waited for a free decode worker.", registry=registry
        )
        self.fetch_seconds = Histogram(
            "vframe_fetch_seconds", "Time reading the video: waiting for an origin or S3; for a file, opening it.",
            registry=registry
        )
        self.decode_seconds = Histogram(
            "vframe_decode_seconds", "Time finding, decoding, converting and scaling the frame.", registry=registry
        )
        self.encode_seconds = Histogram("vframe_encode_seconds", "Time encoding the image.", registry=registry)
        self.cache_hits = Counter("vframe_cache_hits", "Frames answered from the result cache.", registry=registry)
        self.cache_misses = Counter("vframe_cache_misses", "Frames that had to be made.", registry=registry)
        self.store_hits = Counter(
            "vframe_store_hits", "Products found in the result store, by backend (memory, redis, s3).", ["backend"],
            registry=registry,
        )
        self.store_misses = Counter(
            "vframe_store_misses", "Products not found in the result store, by backend.", ["backend"], registry=registry
        )
        self.store_errors = Counter(
            "vframe_store_errors", "Calls to a shared result store that failed and were skipped, by backend and kind "
            "(timeout, connection, error, corrupt).", ["backend", "kind"], registry=registry,
        )
        self.worker_restarts = Counter(
            "vframe_worker_restarts", "Decode workers killed and replaced, by reason.", ["reason"], registry=registry
        )
        for reason in RESTART_REASONS:
            self.worker_restarts.labels(reason)
        # Persistent processing (pfop): jobs kept, by state (counted by the sweep), and the jobs this process ran.
        self.jobs = Gauge("vframe_jobs", "Jobs kept in the job store, by state.", ["state"], registry=registry)
        self.jobs_finished = Counter(
            "vframe_jobs_finished", "Jobs this process ran to their end, by final state.", ["state"], registry=registry
        )
        self.job_seconds = Histogram(
            "vframe_job_seconds", "Time one run of a job took, all its commands.", registry=registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
        )
        self.job_retries = Counter("vframe_job_retries", "Commands of jobs tried again after a failure.",
                                   registry=registry)
        self.job_busy_waits = Counter(
            "vframe_job_busy_waits", "Times a job's command waited for the decode workers (full: 429), no retry spent.",
            registry=registry,
        )
        self._requests_by_status: dict[int, Counter] = {}

    def count_request(self, status: int, seconds: float) -> None:
        """One answered request (each status's counter looked up once, not per request)."""
        counter = self._requests_by_status.get(status)
        if counter is None:
            counter = self._requests_by_status[status] = self.requests.labels(str(status))
        counter.inc()
        self.request_seconds.observe(seconds)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A value read when the metrics are scraped (queue depth, cache size...)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def observe_steps(self, seconds: dict[str, float]) -> None:
        """The pipeline's per-step wall times of one frame."""
        fetch = seconds.get("fetch", seconds.get("open"))  # remote: waiting for the origin; local: opening
        if fetch is not None:
            self.fetch_seconds.observe(fetch)
        for step, histogram in (("decode", self.decode_seconds), ("encode", self.encode_seconds)):
            if step in seconds:
                histogram.observe(seconds[step])

    def render(self) -> bytes:
        return generate_latest(self.registry)
