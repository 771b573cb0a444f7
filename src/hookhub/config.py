"""The one settings object: every knob, its environment variable and its default."""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_NAME_RE_DEFAULT = r"[0-9a-zA-Z-_.]+"
_HOST_RE = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?"
)

# uvicorn's level names; `trace` is uvicorn's extra level below debug.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
LOG_FORMATS = ("text", "json")


class SettingsError(Exception):
    """A bad configuration value; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True, populate_by_name=True)

    data_dir: Annotated[Path, Field(validation_alias="HOOKHUB_DATA_DIR")] = Path("./hookhub-data")
    database_url: Annotated[str | None, Field(validation_alias="HOOKHUB_DATABASE_URL")] = None
    # PostgreSQL connections each process keeps open; under load it opens up to 10 more for a
    # while. Fewer than the requests in flight means connections opened and closed per request.
    database_pool_size: Annotated[int, Field(validation_alias="HOOKHUB_DATABASE_POOL_SIZE", ge=1, le=500)] = (
        20
    )
    host: Annotated[str, Field(validation_alias="HOOKHUB_HOST")] = "127.0.0.1"
    port: Annotated[int, Field(validation_alias="HOOKHUB_PORT", ge=0, le=65535)] = 3000
    # `hookhub serve --workers`: processes sharing the port (each with its own delivery engine).
    workers: Annotated[int, Field(validation_alias="HOOKHUB_WORKERS", ge=1, le=64)] = 1
    # How long an idle keep-alive connection stays open. Longer than a proxy's or client's own idle
    # timeout (nginx upstream keepalive 60 s, load balancers 60 s), so the server never closes a
    # connection just as the other side reuses it (which they report as a 502 or a reset).
    keep_alive_seconds: Annotated[
        int, Field(validation_alias="HOOKHUB_KEEP_ALIVE_SECONDS", ge=1, le=3600)
    ] = 75
    root_url: Annotated[str | None, Field(validation_alias="ROOT_URL")] = None
    log_level: Annotated[str, Field(validation_alias="HOOKHUB_LOG_LEVEL")] = "info"
    # `text`: one readable line per record; `json`: one JSON object per line, for log shippers.
    log_format: Annotated[str, Field(validation_alias="HOOKHUB_LOG_FORMAT")] = "text"
    # When set, GET /metrics requires `Authorization: Bearer <token>`.
    metrics_token: Annotated[str | None, Field(validation_alias="HOOKHUB_METRICS_TOKEN", repr=False)] = None

    admin_username: Annotated[str | None, Field(validation_alias="ADMIN_USERNAME")] = None
    admin_pass: Annotated[str | None, Field(validation_alias="ADMIN_PASS", repr=False)] = None
    admin_email: Annotated[str | None, Field(validation_alias="ADMIN_EMAIL")] = None
    admin_name: Annotated[str | None, Field(validation_alias="ADMIN_NAME")] = None
    admin_email_verified: Annotated[bool, Field(validation_alias="ADMIN_EMAIL_VERIFIED")] = False
    # Rocket.Chat's TEST_MODE: (re)creates the admin its own end-to-end suite logs in with.
    test_mode: Annotated[bool, Field(validation_alias="TEST_MODE")] = False

    # Rocket.Chat settings that change core behaviour (core-api.md §12).
    registration_form: Annotated[
        str, Field(validation_alias=AliasChoices("HOOKHUB_REGISTRATION_FORM", "Accounts_RegistrationForm"))
    ] = "Public"
    registration_secret: Annotated[
        str | None, Field(validation_alias="HOOKHUB_REGISTRATION_SECRET", repr=False)
    ] = None
    default_count: Annotated[int, Field(validation_alias="HOOKHUB_API_DEFAULT_COUNT")] = 50
    upper_count_limit: Annotated[int, Field(validation_alias="HOOKHUB_API_UPPER_COUNT_LIMIT")] = 100
    allow_infinite_count: Annotated[bool, Field(validation_alias="HOOKHUB_API_ALLOW_INFINITE_COUNT")] = True
    message_max_size: Annotated[int, Field(validation_alias="HOOKHUB_MESSAGE_MAX_ALLOWED_SIZE", ge=1)] = 5000
    message_allow_editing: Annotated[bool, Field(validation_alias="HOOKHUB_MESSAGE_ALLOW_EDITING")] = True
    message_allow_deleting: Annotated[bool, Field(validation_alias="HOOKHUB_MESSAGE_ALLOW_DELETING")] = True
    message_edit_block_minutes: Annotated[
        int, Field(validation_alias="HOOKHUB_MESSAGE_EDIT_BLOCK_MINUTES", ge=0)
    ] = 0
    dm_max_users: Annotated[int, Field(validation_alias="HOOKHUB_DM_MAX_USERS", ge=2)] = 8
    user_name_pattern: Annotated[str, Field(validation_alias="HOOKHUB_USER_NAME_PATTERN")] = _NAME_RE_DEFAULT
    channel_name_pattern: Annotated[str, Field(validation_alias="HOOKHUB_CHANNEL_NAME_PATTERN")] = (
        _NAME_RE_DEFAULT
    )
    create_tokens_secret: Annotated[
        str | None, Field(validation_alias="CREATE_TOKENS_FOR_USERS_SECRET", repr=False)
    ] = None

    # Rocket.Chat's FREEZE_INTEGRATION_SCRIPTS (rest-integrations.md §11.6): `yes`/`true` refuse
    # every script change and skip compilation; `ivm` disables the (only) isolated-vm engine.
    # Kept as the raw string because Rocket.Chat compares the lower-cased value itself.
    freeze_integration_scripts: Annotated[str, Field(validation_alias="FREEZE_INTEGRATION_SCRIPTS")] = ""

    # Script sandbox (runtime/sandbox.py). DISABLE_INTEGRATION_SCRIPTS is Rocket.Chat's switch
    # (webhook-runtime.md §4.7): `yes`/`true`/`ivm` stop scripts from running; raw string like FREEZE.
    disable_integration_scripts: Annotated[str, Field(validation_alias="DISABLE_INTEGRATION_SCRIPTS")] = ""
    # Limits apply to every call (Rocket.Chat only bounds loading): V8 heap per integration and wall time.
    script_memory_mb: Annotated[int, Field(validation_alias="HOOKHUB_SCRIPT_MEMORY_MB", ge=4, le=4096)] = 16
    script_timeout_seconds: Annotated[
        float, Field(validation_alias="HOOKHUB_SCRIPT_TIMEOUT_SECONDS", gt=0, le=300)
    ] = 3.0
    # Scripts running at once (0: min(4, CPUs)) and compiled integrations kept (LRU; one V8 isolate each).
    script_workers: Annotated[int, Field(validation_alias="HOOKHUB_SCRIPT_WORKERS", ge=0, le=64)] = 0
    script_cache_size: Annotated[int, Field(validation_alias="HOOKHUB_SCRIPT_CACHE_SIZE", ge=1)] = 64

    # Incoming webhooks (/hooks): calls per minute per hook URL, method and client IP (0: no
    # limit; an integration's own `rateLimit` field overrides it), and the largest accepted body.
    hooks_rate_limit: Annotated[int, Field(validation_alias="HOOKHUB_HOOKS_RATE_LIMIT", ge=0)] = 600
    hooks_max_body_bytes: Annotated[int, Field(validation_alias="HOOKHUB_HOOKS_MAX_BODY_BYTES", ge=1)] = (
        1048576
    )

    # Outgoing webhooks (runtime/outgoing.py): deliveries in flight at once, how deep a chain of
    # webhook replies may go before it is stopped, a factor on every retry delay (tests shrink
    # the spec's schedule with it), and history retention (age, and count per integration).
    outgoing_concurrency: Annotated[
        int, Field(validation_alias="HOOKHUB_OUTGOING_CONCURRENCY", ge=1, le=1024)
    ] = 32
    outgoing_max_depth: Annotated[int, Field(validation_alias="HOOKHUB_OUTGOING_MAX_DEPTH", ge=1, le=100)] = 3
    # How long a claimed delivery stays reserved for its worker; a process that dies mid-delivery
    # holds its deliveries this long before another worker (or the restarted process) takes them.
    delivery_lease_seconds: Annotated[
        float, Field(validation_alias="HOOKHUB_DELIVERY_LEASE_SECONDS", ge=1, le=3600)
    ] = 60
    retry_time_scale: Annotated[float, Field(validation_alias="HOOKHUB_RETRY_TIME_SCALE", gt=0, le=1000)] = (
        1.0
    )
    history_ttl_days: Annotated[float, Field(validation_alias="HOOKHUB_HISTORY_TTL_DAYS", gt=0)] = 30
    history_max_per_integration: Annotated[
        int, Field(validation_alias="HOOKHUB_HISTORY_MAX_PER_INTEGRATION", ge=1)
    ] = 10000
    # Destinations the egress guard lets through although they are loopback/private/link-local:
    # comma-separated CIDRs (10.0.0.0/8, 127.0.0.1/32) or exact host names.
    egress_allow: Annotated[list[str], NoDecode, Field(validation_alias="HOOKHUB_EGRESS_ALLOW")] = []

    # Password hashing cost; tests lower it, production keeps argon2's recommended defaults.
    argon2_time_cost: Annotated[int, Field(validation_alias="HOOKHUB_ARGON2_TIME_COST", ge=1)] = 3
    argon2_memory_kib: Annotated[int, Field(validation_alias="HOOKHUB_ARGON2_MEMORY_KIB", ge=8)] = 65536

    @field_validator("egress_allow", mode="before")
    @classmethod
    def _allow_list(cls, value: object) -> list[str]:
        entries = value.split(",") if isinstance(value, str) else value
        if not isinstance(entries, list | tuple):
            raise ValueError("must be a comma-separated list of CIDRs or host names")
        out: list[str] = []
        for raw in entries:
            entry = str(raw).strip()
            if not entry:
                continue
            if "/" in entry or entry.replace(".", "").isdigit() or ":" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{entry!r} is not a valid CIDR or address ({exc})") from exc
            elif not _HOST_RE.fullmatch(entry):
                raise ValueError(f"{entry!r} is not a valid host name")
            out.append(entry)
        return out

    @field_validator("log_level", "log_format")
    @classmethod
    def _known_name(cls, value: str, info: ValidationInfo) -> str:
        choices = LOG_LEVELS if info.field_name == "log_level" else LOG_FORMATS
        name = value.strip().lower()
        if name not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return name

    @field_validator("registration_form")
    @classmethod
    def _known_form(cls, value: str) -> str:
        if value not in {"Public", "Disabled", "Secret URL"}:
            raise ValueError("must be one of Public, Disabled, Secret URL")
        return value

    @field_validator("user_name_pattern", "channel_name_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"is not a valid regular expression ({exc})") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split(":", 1)[0]
        if scheme in {"sqlite", "sqlite+aiosqlite"}:
            return "sqlite+aiosqlite:" + value.split(":", 1)[1]
        if scheme in {"postgresql", "postgres", "postgresql+asyncpg"}:
            return "postgresql+asyncpg:" + value.split(":", 1)[1]
        raise ValueError("must be a sqlite:// or postgresql:// URL")

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hookhub.sqlite3').resolve()}"

    @cached_property
    def site_url(self) -> str:
        if self.root_url:
            return self.root_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def _variable_names() -> dict[str, str]:
    """Field name and every environment alias -> how an error message names the variable."""
    names: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = [alias] if isinstance(alias, str) else [str(c) for c in getattr(alias, "choices", [name])]
        shown = " or ".join(choices)
        for key in (name, *choices):
            names[key] = shown
    return names


_VARIABLES = _variable_names()


def load_settings(**overrides: object) -> Settings:
    """Read the environment into a Settings; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = str(first["loc"][0]) if first["loc"] else "?"
        variable = _VARIABLES.get(loc, loc)
        raise SettingsError(f"invalid value for {variable}: {first['msg']}") from None
