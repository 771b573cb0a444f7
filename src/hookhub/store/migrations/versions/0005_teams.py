"""teams

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 22:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hookhub.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("name_lower", sa.String(length=255), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.String(length=64), nullable=False),
        sa.Column("created_by_username", sa.String(length=255), nullable=True),
        sa.Column("created_at", hookhub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hookhub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name_lower", name=op.f("uq_teams_name_lower")),
    )
    op.create_table(
        "team_members",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("roles", hookhub.store.types.JSONText(), nullable=True),
        sa.Column("created_by_id", sa.String(length=64), nullable=False),
        sa.Column("created_by_username", sa.String(length=255), nullable=True),
        sa.Column("created_at", hookhub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hookhub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        sa.UniqueConstraint("team_id", "user_id", name=op.f("uq_team_members_team_id_user_id")),
    )
    op.create_index(op.f("ix_team_members_user_id"), "team_members", ["user_id"], unique=False)
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("team_default", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("team_default")
    op.drop_index(op.f("ix_team_members_user_id"), table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
