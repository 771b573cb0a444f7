"""The schema. Columns hold what is queried or changed atomically; `extra` holds the rest of a
Rocket.Chat document verbatim (already wire-shaped), so new optional fields need no migration."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hookhub.store.types import JSONText, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(64)
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for an outbox.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("username", String(255), nullable=True),
    Column("username_lower", String(255), nullable=True, unique=True),
    Column("email_lower", String(320), nullable=True, unique=True),
    Column("name", String(255), nullable=True),
    Column("type", String(16), nullable=False, default="user"),
    Column("active", Boolean, nullable=False, default=True),
    Column("roles", JSONText, nullable=False, default=list),
    Column("status", String(16), nullable=False, default="offline"),
    Column("password_hash", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_login", UTCDateTime, nullable=True),
    Column("extra", JSONText, nullable=False, default=dict),
)

login_tokens = Table(
    "login_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("hashed_token", String(128), nullable=False, unique=True),
    Column("type", String(32), nullable=False, default="login"),
    Column("name", String(255), nullable=True),
    Column("last_token_part", String(16), nullable=True),
    Column("bypass_two_factor", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("user_id", "name"),
)

rooms = Table(
    "rooms",
    metadata,
    Column("id", ID, primary_key=True),
    Column("t", String(1), nullable=False),
    Column("name", String(255), nullable=True, unique=True),
    Column("fname", String(255), nullable=True),
    Column("creator_id", ID, nullable=True),
    Column("creator_username", String(255), nullable=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, index=True),
    Column("msgs", Integer, nullable=False, default=0),
    Column("users_count", Integer, nullable=False, default=0),
    Column("ro", Boolean, nullable=False, default=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("broadcast", Boolean, nullable=False, default=False),
    Column("join_code", String(255), nullable=True),
    Column("team_id", ID, nullable=True, index=True),
    Column("team_main", Boolean, nullable=False, default=False),
    # `teamDefault`: a team room members join automatically (absent until teams.updateRoom sets it)
    Column("team_default", Boolean, nullable=True),
    Column("uids", JSONText, nullable=True),
    Column("usernames", JSONText, nullable=True),
    Column("lm", UTCDateTime, nullable=True),
    Column("last_message", JSONText, nullable=True),
    Column("extra", JSONText, nullable=False, default=dict),
)
Index("ix_rooms_t_name", rooms.c.t, rooms.c.name)

room_removals = Table(
    "room_removals",
    metadata,
    Column("id", ID, primary_key=True),
    Column("t", String(1), nullable=False),
    Column("removed_at", UTCDateTime, nullable=False, index=True),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("rid", ID, ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("username", String(255), nullable=True),
    Column("t", String(1), nullable=False),
    Column("name", String(255), nullable=True),
    Column("fname", String(255), nullable=True),
    Column("open", Boolean, nullable=False, default=True),
    Column("alert", Boolean, nullable=False, default=False),
    Column("unread", Integer, nullable=False, default=0),
    Column("favorite", Boolean, nullable=False, default=False),
    Column("roles", JSONText, nullable=False, default=list),
    Column("ts", UTCDateTime, nullable=False),
    Column("ls", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("rid", "user_id"),
)

# Teams (issue #9, teams.md §1): a team owns a main room (`rooms.team_id` + `team_main`) and child
# rooms (`rooms.team_id`); membership is one row per user, kept in step with the main room's
# subscriptions by services.teams.
teams = Table(
    "teams",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    # lower-cased name: team names are unique regardless of case
    Column("name_lower", String(255), nullable=False, unique=True),
    Column("type", Integer, nullable=False),  # 0 public, 1 private
    Column("room_id", ID, nullable=False),
    Column("created_by_id", ID, nullable=False),
    Column("created_by_username", String(255), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("team_id", ID, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("roles", JSONText, nullable=True),  # absent for plain members
    Column("created_by_id", ID, nullable=False),
    Column("created_by_username", String(255), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("team_id", "user_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("rid", ID, ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("u_id", ID, nullable=False),
    Column("u_username", String(255), nullable=True),
    Column("u_name", String(255), nullable=True),
    Column("msg", Text, nullable=False, default=""),
    Column("t", String(64), nullable=True),
    Column("tmid", ID, nullable=True, index=True),
    Column("edited_at", UTCDateTime, nullable=True),
    Column("edited_by_id", ID, nullable=True),
    Column("edited_by_username", String(255), nullable=True),
    Column("extra", JSONText, nullable=False, default=dict),
)
Index("ix_messages_rid_ts", messages.c.rid, messages.c.ts)

roles = Table(
    "roles",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("scope", String(32), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("protected", Boolean, nullable=False, default=True),
    Column("mandatory2fa", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

permissions = Table(
    "permissions",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("roles", JSONText, nullable=False, default=list),
    Column("updated_at", UTCDateTime, nullable=False, index=True),
)

settings = Table(
    "settings",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("value", JSONText, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Transactional outbox: one row per change an outgoing webhook can listen to, written in the
# same transaction as the change. `payload` holds snapshots (room, user, message, owner, kicker)
# taken at the moment of the change.
events = Table(
    "events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("room_id", ID, nullable=True),
    Column("user_id", ID, nullable=True),
    Column("message_id", ID, nullable=True),
    Column("payload", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime, nullable=True),
)
Index("ix_events_processed_at_id", events.c.processed_at, events.c.id)

# Integrations (incoming and outgoing webhooks). `doc` is the wire document, the source of truth;
# every other column is a shadow derived from it by `store.integrations` for filtering, sorting and
# indexes (see `store.query`). Array fields are also exploded into `integration_terms`, so "array
# contains" filters are an indexed EXISTS on both SQLite and PostgreSQL.
integrations = Table(
    "integrations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("name", Text, nullable=True),
    Column("name_lower", Text, nullable=True),
    Column("enabled", Boolean, nullable=True),
    Column("username", String(255), nullable=True),
    Column("user_id", ID, nullable=True),
    Column("token", Text, nullable=True),
    Column("event", String(32), nullable=True),
    Column("target_room", Text, nullable=True),
    Column("alias", Text, nullable=True),
    Column("avatar", Text, nullable=True),
    Column("emoji", Text, nullable=True),
    Column("script_enabled", Boolean, nullable=True),
    Column("script_engine", Text, nullable=True),
    Column("override_destination_channel_enabled", Boolean, nullable=True),
    Column("trigger_word_anywhere", Boolean, nullable=True),
    Column("run_on_edits", Boolean, nullable=True),
    Column("retry_failed_calls", Boolean, nullable=True),
    Column("retry_count", Integer, nullable=True),
    Column("retry_delay", Text, nullable=True),
    Column("impersonate_user", Boolean, nullable=True),
    Column("channel", JSONText, nullable=True),
    Column("urls", JSONText, nullable=True),
    Column("trigger_words", JSONText, nullable=True),
    Column("created_at", UTCDateTime, nullable=True),
    Column("created_by_id", ID, nullable=True),
    Column("created_by_username", String(255), nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    Column("updated_by_id", ID, nullable=True),
    Column("updated_by_username", String(255), nullable=True),
    Column("doc", JSONText, nullable=False),
)
# The row id closes every index used for ordering: pages are ordered by (key, id) and are read
# straight from the index, even at deep offsets.
Index("ix_integrations_created_at_id", integrations.c.created_at, integrations.c.id)
Index("ix_integrations_type_created_at_id", integrations.c.type, integrations.c.created_at, integrations.c.id)
Index(
    "ix_integrations_created_by_id_type_created_at",
    integrations.c.created_by_id,
    integrations.c.type,
    integrations.c.created_at,
)
Index("ix_integrations_name_lower", integrations.c.name_lower)
Index("ix_integrations_created_by_username", integrations.c.created_by_username)
Index("ix_integrations_event", integrations.c.event)
Index("ix_integrations_token", integrations.c.token)

integration_terms = Table(
    "integration_terms",
    metadata,
    Column("owner_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("field", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("value", Text, nullable=False),
    UniqueConstraint("owner_id", "field", "position"),
)
Index(
    "ix_integration_terms_field_value_owner_id",
    integration_terms.c.field,
    integration_terms.c.value,
    integration_terms.c.owner_id,
)

# Delivery history of outgoing integrations (rest-integrations.md §13.3). `doc` is the wire document;
# the columns are shadows for filters, sorting and the per-integration page index.
integration_history = Table(
    "integration_history",
    metadata,
    Column("id", ID, primary_key=True),
    Column("integration_id", ID, nullable=False),
    Column("integration_created_by_id", ID, nullable=True),
    Column("type", String(32), nullable=True),
    Column("step", String(128), nullable=True),
    Column("event", String(32), nullable=True),
    Column("url", Text, nullable=True),
    Column("trigger_word", Text, nullable=True),
    Column("finished", Boolean, nullable=True),
    Column("error", Boolean, nullable=True),
    Column("ran_prepare_script", Boolean, nullable=True),
    Column("created_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    Column("doc", JSONText, nullable=False),
)
Index(
    "ix_integration_history_integration_id_updated_at_id",
    integration_history.c.integration_id,
    integration_history.c.updated_at,
    integration_history.c.id,
)
Index(
    "ix_integration_history_integration_id_created_at",
    integration_history.c.integration_id,
    integration_history.c.created_at,
)

# Idempotency receipts of incoming webhooks: the answer given to a request carrying an
# `Idempotency-Key` (or Standard Webhooks `webhook-id`) header, written in the same transaction as
# the message it posted. The unique key makes a concurrent duplicate fail instead of posting twice.
hook_receipts = Table(
    "hook_receipts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("integration_id", "key_hash"),
)
Index("ix_hook_receipts_created_at", hook_receipts.c.created_at)

# Durable outgoing deliveries (issue #5): one row per (event, integration, URL), or per replay. The row
# outlives crashes: a worker claims it by writing a lease (`lease_owner`, `lease_until`); a worker that
# dies simply lets the lease run out and another one takes the row again. `id` doubles as the Standard
# Webhooks `webhook-id`, so it must stay the same on every attempt. `dedupe_key` makes consuming an
# outbox event twice harmless. No foreign key to `integrations`: a delivery of a removed integration is
# cancelled by the worker, and its row (like its history) may outlive the integration.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("dedupe_key", Text, nullable=False, unique=True),
    Column("event_id", BigInteger, nullable=True),
    Column("integration_id", ID, nullable=False),
    Column("url", Text, nullable=False),
    Column("event", String(32), nullable=False),
    Column("trigger_word", Text, nullable=True),
    Column("tries", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False, default="pending"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("depth", Integer, nullable=False, default=0),
    Column("replay_of", ID, nullable=True),
    Column("history_id", ID, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("payload", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
# Claims read "pending, due, oldest first" straight from this index.
Index(
    "ix_deliveries_status_next_attempt_at_id",
    deliveries.c.status,
    deliveries.c.next_attempt_at,
    deliveries.c.id,
)
# The earliest lease to run out (the worker's wake-up time when every due row is taken).
Index("ix_deliveries_status_lease_until", deliveries.c.status, deliveries.c.lease_until)
# Retention of finished rows.
Index("ix_deliveries_status_updated_at", deliveries.c.status, deliveries.c.updated_at)
Index("ix_deliveries_integration_id_status", deliveries.c.integration_id, deliveries.c.status)
