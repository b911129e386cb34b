"""Settings from the environment (RESELL_*), in one object.

Every knob an operator may turn lives here, with a sane default, so that `make run` works on a
fresh machine and production only sets what differs.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from resell.private_files import open_private, private_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESELL_", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str = ""  # default: SQLite at var/resell.db
    # PostgreSQL: let psycopg prepare repeated statements on the server (false behind a pooler in
    # transaction mode that does not track prepared statements: pgbouncer before 1.21, docs/deployment.md)
    database_server_prepare: bool = True
    # PostgreSQL: the threads per API process that run the reads of /connect (and every call's
    # authentication). Few is cheaper: each thread more waiting on PostgreSQL is one more taking the
    # interpreter's lock back in turn (bench/run.py: 2 gave the reads 1.4-1.6 times what 20 did).
    # Raise it when PostgreSQL is far (a round trip over 1 ms), where a thread spends most of a
    # read waiting (docs/deployment.md).
    database_read_threads: Annotated[int, Field(ge=1, le=20)] = 2
    # PostgreSQL: the threads per API process that run every other /connect call (createOrder, each in
    # its transaction until its commit). 8 against 20: a createOrder at c=32 costs about a tenth less CPU
    # and its p99 is 13-29% shorter, a launch sells as fast and answers twice the stock polls
    # (bench/run.py, README). Fewer (4) sold a launch's one product a quarter slower.
    database_write_threads: Annotated[int, Field(ge=1, le=20)] = 8
    # How long an API process keeps what the /connect hot path reads on every call yet rarely changes:
    # the catalogue row a secret opens (services/iam.py), the files of an order's products
    # (services/orders.py), the products' stock statuses until its next write
    # (services/catalog.py). A change made through another process (a token reset, a rotated or removed
    # secret, a file attached, serials sold or imported) reaches this one within that time (db/kept.py);
    # 0: nothing kept.
    cache_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    server: str = "uvicorn"  # the HTTP server of `resell serve`: uvicorn or granian (docs/deployment.md)
    # SQLite: concurrent createOrders of one process share one transaction and one durable commit
    # (docs/architecture.md); PostgreSQL gives each its own transaction whatever this says
    group_commit: bool = True
    public_base_url: str = ""  # default: http://{host}:{port}

    jwt_secret: str = ""  # default: generated once into var/jwt-secret
    access_token_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 1800

    # request limits, refused before any work (docs/limits.md)
    max_request_bytes: int = 1_000_000  # any request body, by Content-Length or as read: HTTP 413
    order_max_lines: int = 100  # createOrder lines per order (responseCode 201)
    order_max_units: int = 1000  # createOrder units per order, all lines together (responseCode 221)
    stock_max_refs: int = 1000  # getStockStatus productRefs per call (responseCode 101)

    download_days: int = 21
    cancel_period_days: int = 30
    download_signing_key: str = ""  # default: derived from the JWT secret
    webhook_signing_key: str = ""  # webhook secrets are derived from it; default: derived from the JWT secret
    webhook_timeout_seconds: float = 10.0  # one webhook delivery attempt waits no longer for the receiver
    # webhooks, key generators and publisher callbacks may reach loopback/private addresses (development only)
    webhook_allow_private: bool = False
    webhook_max_endpoints: int = 16  # webhook endpoints one merchant may have (removed ones do not count)
    worker_concurrency: int = 16  # deliveries (webhooks, emails, publisher calls) in flight at once per worker process
    # of which at most this many to one destination: one owner's webhook endpoints, one publisher, the SMTP server
    worker_per_destination: int = 4

    # fulfilment (docs/fulfilment.md)
    # where product files live (docs/operations.md, "File storage"): "local", a directory (RESELL_FILES_DIR),
    # or "s3", a bucket of an S3-compatible object store that every API node reads
    storage: Literal["local", "s3"] = "local"
    storage_backend: str = ""  # the earlier name of RESELL_STORAGE, read when RESELL_STORAGE is not set
    files_dir: Path | None = None  # default: {var_dir}/files
    s3_endpoint_url: str = ""  # default: AWS S3 itself; e.g. https://minio.internal:9000 for another store
    s3_bucket: str = ""  # required with RESELL_STORAGE=s3; keep it private (no public ACL or policy)
    s3_region: str = ""  # default: the client's (AWS_REGION, ~/.aws/config), else us-east-1
    s3_access_key_id: str = ""  # default: the client's chain (AWS_ACCESS_KEY_ID, an instance or pod role...)
    s3_secret_access_key: str = ""
    s3_prefix: str = ""  # prepended to every object key, e.g. "resell/" to share a bucket
    locker_rate_limit_ip: str = "20/minute"  # locker sign-in attempts per client IP (limits notation)
    # the locker's "send my order email again" and "forgot my order number" (docs/security.md): requests
    # per client IP, all counted (a 429 beyond); emails again per (order, client IP), per order from all
    # addresses together (what one customer's mailbox may receive), and order lists the same way per
    # (email address, client IP) and per email address (beyond these four: the same answer, nothing sent)
    locker_recovery_rate_limit_ip: str = "10/hour"
    locker_resend_rate_limit_order_ip: str = "3/day"
    locker_resend_rate_limit_order: str = "10/day"
    locker_order_list_rate_limit_email_ip: str = "3/day"
    locker_order_list_rate_limit_email: str = "10/day"
    rate_limit_storage: str = "memory://"  # limits storage URI; redis://host:6379 when several nodes serve
    # POST /iam/tokens attempts per client IP, all counted (limits notation; "" turns it off)
    iam_rate_limit_ip: str = "120/minute"
    # failed sign-ins (POST /iam/tokens per realm, POST /locker per order) from one client address on
    # one account before each further attempt from there waits; 0 turns the back-off off
    sign_in_backoff_after: Annotated[int, Field(ge=0)] = 5
    sign_in_backoff_seconds: Annotated[int, Field(ge=1)] = 2  # the first wait; it doubles with each further attempt
    sign_in_backoff_max_seconds: Annotated[int, Field(ge=1)] = 900  # the longest wait
    # the back office (/admin, docs/back-office.md): how long a staff session lasts from sign-in, and the
    # sign-in attempts per client IP, all counted (limits notation; "" turns it off)
    admin_session_seconds: Annotated[int, Field(ge=60)] = 28_800
    admin_rate_limit_ip: str = "20/minute"
    # the body limit of the back office's serial upload (POST /admin/stock/import) alone, in place of
    # max_request_bytes: a file of a million 30-character keys is about 32 MB (docs/limits.md)
    admin_import_max_bytes: Annotated[int, Field(ge=1)] = 64_000_000
    # proxies whose X-Forwarded-For/-Proto `resell serve` believes (uvicorn's forwarded_allow_ips:
    # addresses or networks, comma-separated, "*" for any); empty: none, the peer is the client
    forwarded_allow_ips: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_ca_file: str = ""  # CA bundle that signs the SMTP server's certificate (default: the system's)
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "resell <no-reply@localhost>"  # its address sends; the From name is the shop's (domain.branding)
    publisher_signing_key: str = ""  # per-publisher keys are derived from it; default: derived from the JWT secret
    keygen_timeout_seconds: float = 5.0  # one call to a publisher's key generator
    keygen_attempts: int = 2  # calls per product before createOrder gives up with 1051
    publisher_timeout_seconds: float = 10.0  # one revoked-serials callback attempt

    # /metrics: when set, a scrape must send `Authorization: Bearer <token>` (else 401)
    metrics_token: str = ""
    # host:port where `resell serve` serves /metrics instead of the public address (which answers 404)
    metrics_bind: str = ""

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator(
        "iam_rate_limit_ip",
        "locker_rate_limit_ip",
        "admin_rate_limit_ip",
        "locker_recovery_rate_limit_ip",
        "locker_resend_rate_limit_order_ip",
        "locker_resend_rate_limit_order",
        "locker_order_list_rate_limit_email_ip",
        "locker_order_list_rate_limit_email",
    )
    @classmethod
    def _limit_notation(cls, value: str) -> str:
        """Refused at start-up rather than on the first token request."""
        from limits import parse

        if value.strip():
            parse(value)  # ValueError on a notation limits cannot read
        return value

    @model_validator(mode="after")
    def _storage(self) -> Settings:
        """RESELL_STORAGE_BACKEND still works; an S3 store without a bucket is refused at start-up."""
        if "storage" not in self.model_fields_set and self.storage_backend:
            if self.storage_backend not in ("local", "s3"):
                raise ValueError(f"RESELL_STORAGE_BACKEND must be local or s3, not {self.storage_backend!r}")
            self.storage = self.storage_backend  # type: ignore[assignment]
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("RESELL_STORAGE=s3 needs RESELL_S3_BUCKET")
        return self

    @field_validator("metrics_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        """Refused at start-up: `host:port`, `[::1]:port` for IPv6."""
        if value.strip():
            host, _, port = value.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"RESELL_METRICS_BIND must be host:port, not {value!r}")
        return value.strip()

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) of RESELL_METRICS_BIND, or None."""
        if not self.metrics_bind:
            return None
        host, _, port = self.metrics_bind.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'resell.db').as_posix()}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def effective_jwt_secret(self) -> str:
        """The JWT key: from the setting, else a random one kept in var/ across restarts."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.var_dir / "jwt-secret"
        if not path.exists():
            private_dir(self.var_dir)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with os.fdopen(open_private(tmp), "w") as out:  # 0600 from its creation: never readable by others
                out.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)  # atomic: two workers starting at once agree on one key
            except FileExistsError:
                pass
            tmp.unlink(missing_ok=True)
        return path.read_text().strip()

    @property
    def effective_files_dir(self) -> Path:
        return self.files_dir if self.files_dir is not None else self.var_dir / "files"

    @cached_property
    def effective_publisher_key(self) -> bytes:
        key = self.publisher_signing_key or ("publisher:" + self.effective_jwt_secret)
        return key.encode()

    @cached_property
    def effective_download_key(self) -> bytes:
        key = self.download_signing_key or ("download:" + self.effective_jwt_secret)
        return key.encode()

    @cached_property
    def effective_admin_key(self) -> bytes:
        """Signs the back office's session cookies and CSRF tokens (derived: nothing more to configure)."""
        return ("admin:" + self.effective_jwt_secret).encode()

    @cached_property
    def effective_webhook_key(self) -> bytes:
        key = self.webhook_signing_key or ("webhook:" + self.effective_jwt_secret)
        return key.encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
