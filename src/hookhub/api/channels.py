"""`channels.*` endpoints (see ../shared/spec/core-api.md)."""

from __future__ import annotations

from hookhub.api.routing import make_router

router = make_router("channels")
