"""All limits and settings in one place: a frozen value read from VFRAME_* variables
(and, for `vframe serve`, from the flag of the same name)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from .decoders import allowed as allowed_decoders

_KINDS = {"int": int, "float": float, "str": str}


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    """Every knob of vframe. Each field `name` is read from the variable `VFRAME_<NAME>`;
    its metadata `doc` is the one line the README and `vframe serve --help` show."""

    # The picture and the engine's limits.
    max_width: int = field(default=3840, metadata=_doc("largest longer side of an output"))
    max_height: int = field(default=2160, metadata=_doc("largest shorter side of an output"))
    max_source_bytes: int = field(default=8 * 1024**3, metadata=_doc("largest video opened (413 above)"))
    max_frame_pixels: int = field(
        default=8192 * 4320, metadata=_doc("largest coded frame (width x height), checked before decoding (413)")
    )
    max_decoded_frames: int = field(default=20_000, metadata=_doc("frames one request may decode (413 above)"))
    deadline_seconds: float = field(default=30.0, metadata=_doc("wall time one request may take (599 past it)"))
    max_output_bytes: int = field(
        default=32 * 1024**2, metadata=_doc("largest encoded image returned (413 above)")
    )
    decoder_threads: int = field(default=0, metadata=_doc(
        "threads decoding one frame; 0: every idle core (the service gives a request one thread while "
        "the other workers are busy)"
    ))
    probe_bytes: int = field(default=5_000_000, metadata=_doc("bytes FFmpeg may read to find the streams"))
    decoders: str = field(default="", metadata=_doc(
        "the FFmpeg decoders that may run: `+name` adds to the default list, `-name` removes from it, "
        "`name,name` is the whole list; empty: the default (see Codec policy)"
    ))
    jpeg_quality: int = field(default=85, metadata=_doc("JPEG quality, 1-100"))
    webp_quality: int = field(default=80, metadata=_doc("WebP quality, 1-100"))
    png_compress_level: int = field(default=3, metadata=_doc("PNG zlib level, 0-9"))
    avif_quality: int = field(default=60, metadata=_doc("AVIF quality, 1-100"))
    max_tiles: int = field(default=5000, metadata=_doc("tiles one vsample storyboard may have (413 above)"))
    max_sheet_pixels: int = field(default=32 * 1024**2, metadata=_doc(
        "largest sprite sheet (width x height); tiles past it go on the next page"
    ))
    max_preview_side: int = field(default=640, metadata=_doc(
        "longest side of a vpreview animation: a larger w or h is a 400, a size that follows the aspect is "
        "scaled down to it"
    ))
    max_preview_frames: int = field(default=300, metadata=_doc("frames one vpreview animation may have (413 above)"))
    max_preview_pixels: int = field(default=70_000_000, metadata=_doc(
        "pixels of all the frames of one vpreview animation together, which it holds until it is encoded (413 above)"
    ))
    # Remote videos: HTTP(S) origins and S3 (the service, and `http(s)://` and `s3://` inputs).
    block_bytes: int = field(
        default=1024 * 1024, metadata=_doc("bytes asked for in each ranged read of a remote video")
    )
    max_fetch_bytes: int = field(
        default=1024**3, metadata=_doc("bytes one request may fetch from an origin or S3 (413 above)")
    )
    origin_cache_bytes: int = field(default=64 * 1024**2, metadata=_doc(
        "bytes of remote videos a process keeps between requests, for later frames of the same version of a "
        "video (a strong ETag): its index and GOPs already read are not fetched again; 0: none"
    ))
    origin_timeout_seconds: float = field(
        default=10.0, metadata=_doc("connect and read timeout of each request to an origin or S3 (504 past it)")
    )
    s3_endpoint: str = field(
        default="", metadata=_doc("endpoint URL of an S3-compatible store (MinIO, R2, Wasabi...); empty: AWS")
    )
    s3_region: str = field(default="", metadata=_doc("S3 region; empty: from the AWS configuration"))
    allow_private_urls: int = field(
        default=0, metadata=_doc("1 lets `http(s)://` inputs reach loopback, private and link-local addresses")
    )
    # The HTTP service (`vframe serve`).
    root: str = field(default="", metadata=_doc("the folder of videos to serve (one of root, origin, s3)"))
    origin: str = field(
        default="", metadata=_doc("serve the videos under this http(s):// base URL (one of root, origin, s3)")
    )
    s3: str = field(
        default="", metadata=_doc("serve the videos under this s3://bucket/prefix (one of root, origin, s3)")
    )
    signing_keys: str = field(
        default="", metadata=_doc("ACCESSKEY:SECRETKEY pairs, comma-separated: only signed URLs answered; empty: off")
    )
    signing_base: str = field(
        default="", metadata=_doc("the public scheme://host[:port] clients sign; empty: the one a request came to")
    )
    host: str = field(default="127.0.0.1", metadata=_doc("address to listen on"))
    port: int = field(default=8080, metadata=_doc("port to listen on; 0 picks a free one"))
    workers: int = field(default=0, metadata=_doc("decode worker processes; 0: one per core"))
    queue_size: int = field(
        default=64, metadata=_doc("requests that may wait for a worker; 429 at once when it is full")
    )
    worker_memory_mb: int = field(
        default=1024, metadata=_doc(
            "memory a decode worker may use beyond what it maps at start: allocations past it fail, and a worker "
            "whose resident memory passes it is replaced (599 for its request)"
        )
    )
    worker_max_jobs: int = field(default=1000, metadata=_doc("frames a worker makes before it is replaced; 0: never"))
    cache_bytes: int = field(
        default=256 * 1024**2, metadata=_doc("size of the in-memory cache of made frames; 0 turns it off")
    )
    cache_max_age: int = field(default=86400, metadata=_doc("seconds in the Cache-Control max-age of a frame"))
    ui: int = field(default=0, metadata=_doc(
        "1 serves the page /-/ui/ (browse the videos, scrub, build specs; `make run` turns it on); 0: 404"
    ))
    ui_page_size: int = field(default=100, metadata=_doc(
        "videos one page of the /-/ui/ listing gives at most (1-1000)"
    ))
    # Persistent processing (pfop): the job queue, its consumers, and where results go.
    queue: str = field(default="", metadata=_doc(
        "the job queue: empty for the embedded one (a SQLite file in VFRAME_STATE_DIR), or redis://HOST:PORT/DB "
        "shared by every `vframe serve` and `vframe worker`"
    ))
    queue_timeout_seconds: float = field(default=10.0, metadata=_doc(
        "seconds one call to the Redis queue may take (connecting included) before it fails"
    ))
    state_dir: str = field(default=".vframe-state", metadata=_doc("folder of the embedded job queue's file"))
    job_workers: int = field(default=2, metadata=_doc(
        "jobs one `vframe serve` or `vframe worker` runs at a time; 0 in serve: it only takes jobs in"
    ))
    job_retries: int = field(default=2, metadata=_doc(
        "times a command that failed in decoding (599) or at the origin (502, 504) is tried again"
    ))
    job_deadline_seconds: float = field(default=300.0, metadata=_doc("wall time one command of a job may take"))
    job_lease_seconds: float = field(default=30.0, metadata=_doc(
        "a running job's lease, renewed while it runs: a job whose lease lapsed (its consumer died) is run again"
    ))
    job_max_commands: int = field(default=20, metadata=_doc("commands one pfop job may have (413 past it)"))
    job_max_form_bytes: int = field(default=65536, metadata=_doc("bytes of a pfop form (413 past it)"))
    job_retention: int = field(default=864000, metadata=_doc("seconds a job's status is kept (Qiniu: 10 days)"))
    bucket: str = field(default="vframe", metadata=_doc(
        "the bucket name pfop's `bucket` and saveas give for a folder or origin (S3: its own bucket)"
    ))
    output: str = field(default="", metadata=_doc(
        "where jobs on an HTTP origin (read-only) write: a folder or s3://bucket/prefix"
    ))
    notify_retries: int = field(default=3, metadata=_doc("times a failed notifyURL POST is tried again"))
    header_timeout_seconds: float = field(default=10.0, metadata=_doc(
        "seconds a client has to send a request's line and headers, from its connection or (kept alive) the first "
        "byte of its next request, and the longest pause within a request's body (408 and close past either)"
    ))
    max_connections: int = field(default=0, metadata=_doc(
        "connections open at once; past it a new one is answered 503 and closed; 0: the open-file limit "
        "(raised to its hard limit at start) less 128 kept for the rest of the process"
    ))
    result_store: str = field(default="memory", metadata=_doc(
        "where made frames are kept: `memory` (this process, VFRAME_CACHE_BYTES), `redis://host:port/db` or "
        "`s3://bucket/prefix` (shared by replicas; the memory cache stays in front of it)"
    ))
    store_ttl_seconds: int = field(default=7 * 86400, metadata=_doc("seconds an entry lives in a shared store"))
    store_max_entry_bytes: int = field(
        default=8 * 1024**2, metadata=_doc("largest product put in a shared store (larger ones stay in memory)")
    )
    store_timeout_seconds: float = field(default=0.5, metadata=_doc(
        "time one call to a shared store may take; a store that is slower or down is skipped (decoded instead)"
    ))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: os.environ); a malformed value raises ValueError naming it."""
        env = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            raw = env.get(env_name(item.name))
            if raw is not None:
                values[item.name] = convert(item.name, raw)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def __post_init__(self) -> None:
        allowed_decoders(self.decoders)  # a library's Settings(decoders=...) is refused at once, like the variable

    @property
    def allowed_decoders(self) -> frozenset[str]:
        """The decoders `decoders` allows (vframe/decoders.py)."""
        return allowed_decoders(self.decoders)

    def validate(self) -> None:
        allowed_decoders(self.decoders)
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str):
                continue
            if value < 0 or (value == 0 and item.name not in _ZERO_ALLOWED):
                raise ValueError(f"{env_name(item.name)} must be positive, not {value}")
        if self.max_height > self.max_width:
            raise ValueError("VFRAME_MAX_HEIGHT (the shorter side) cannot exceed VFRAME_MAX_WIDTH")
        for name in ("jpeg_quality", "webp_quality", "avif_quality"):
            if not 1 <= getattr(self, name) <= 100:
                raise ValueError(f"{env_name(name)} must be 1 to 100")
        if self.png_compress_level > 9:
            raise ValueError("VFRAME_PNG_COMPRESS_LEVEL must be 0 to 9")
        from .store import check_store_url

        check_store_url(self.result_store)
        if self.ui_page_size > 1000:
            raise ValueError("VFRAME_UI_PAGE_SIZE must be 1 to 1000")
        if self.ui not in (0, 1):
            raise ValueError("VFRAME_UI must be 0 or 1")
        if self.port > 65535:
            raise ValueError("VFRAME_PORT must be 0 to 65535")
        if self.queue and not self.queue.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("VFRAME_QUEUE must be empty (the embedded queue) or a redis:// URL")
        if self.output and self.output.startswith("s3://") is False and "://" in self.output:
            raise ValueError("VFRAME_OUTPUT must be a folder or an s3://bucket/prefix")

    @property
    def worker_count(self) -> int:
        """The decode workers to run: `workers`, or one per core this process may use."""
        return self.workers or len(os.sched_getaffinity(0))


_ZERO_ALLOWED = {"decoder_threads", "png_compress_level", "port", "allow_private_urls", "workers", "worker_max_jobs",
                 "cache_bytes", "cache_max_age", "origin_cache_bytes", "job_workers", "job_retries",
                 "notify_retries", "max_connections", "ui"}


def env_name(name: str) -> str:
    return f"VFRAME_{name.upper()}"


def kind(name: str) -> type:
    """int, float or str: the type of the setting `name`."""
    annotation = {item.name: item.type for item in fields(Settings)}[name]
    return annotation if isinstance(annotation, type) else _KINDS[annotation]


def convert(name: str, raw: str) -> object:
    """The text `raw` as the setting `name`'s type; ValueError naming the variable when it is not one."""
    try:
        return kind(name)(raw)
    except ValueError:
        raise ValueError(f"{env_name(name)} must be a number, not {raw!r}") from None


DEFAULT = Settings()
