"""The process-wide objects a running server holds: settings, database, caches, hashing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from hookhub.config import Settings
from hookhub.ids import utcnow
from hookhub.services.bootstrap import bootstrap
from hookhub.services.context import Ctx
from hookhub.services.credentials import PasswordHashing
from hookhub.services.permissions import PermissionCache
from hookhub.store.database import Database

if TYPE_CHECKING:
    from hookhub.runtime.egress import EgressClient
    from hookhub.runtime.sandbox import Sandbox


DRY_RUN_CONCURRENCY = 2


class Hub:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.db = Database(settings.effective_database_url, settings.database_pool_size)
        self.permissions = PermissionCache()
        self.hashing = PasswordHashing(settings)
        self.clock = clock
        self._sandbox: Sandbox | None = None
        self._egress: EgressClient | None = None
        self._commit_listeners: list[Callable[[], None]] = []
        # Each script dry run (services.integrations.dry_run) starts a sandbox of its own: at most
        # this many at once, so a burst of them queues instead of filling memory with isolates.
        self.dry_run_slots = asyncio.Semaphore(DRY_RUN_CONCURRENCY)

    @property
    def sandbox(self) -> Sandbox:
        """The process's integration script sandbox, created on first use: it starts threads
        (and loads V8), which most hubs never need. Creation has no await, so two tasks cannot
        both create one."""
        if self._sandbox is None:
            from hookhub.runtime.egress import EgressResponse
            from hookhub.runtime.sandbox import Sandbox  # deferred: V8 loads only when a script runs

            async def fetch(
                method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
            ) -> EgressResponse:
                # Scripts' fetch passes the same egress guard (and pool) as deliveries; looked up
                # per request so the client is created on the event loop that uses it.
                return await self.egress.send(method, url, headers=headers, content=body, timeout=seconds)

            self._sandbox = Sandbox(self.settings, fetch=fetch)
        return self._sandbox

    @property
    def egress(self) -> EgressClient:
        """The process's one guarded HTTP client (`HOOKHUB_EGRESS_ALLOW`), shared by outgoing
        deliveries and scripts' `fetch` so that every request from the server passes one policy
        and one connection pool. Created on first use, closed by `close`."""
        if self._egress is None:
            from hookhub.runtime.egress import EgressClient

            self._egress = EgressClient(allow=self.settings.egress_allow)
        return self._egress

    @asynccontextmanager
    async def tx(self, *, write: bool = True) -> AsyncIterator[Ctx]:
        """A service context over one transaction (committed when the block exits cleanly)."""
        async with self.db.transaction(write=write) as conn:
            yield Ctx(conn=conn, settings=self.settings, permissions=self.permissions, clock=self.clock)
        if write:
            self.committed()

    def on_commit(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every committed write (it may have written outbox events or
        deliveries: the outgoing engine looks at once instead of at its next poll). Returns a
        function that removes it. Listeners must be quick and must not raise."""
        self._commit_listeners.append(listener)
        return lambda: self._commit_listeners.remove(listener)

    def committed(self) -> None:
        """A write was committed (write paths that bypass `tx`, such as the hook fast path, call
        this themselves)."""
        for listener in list(self._commit_listeners):
            listener()

    async def start(self) -> None:
        async with self.tx() as ctx:
            await bootstrap(ctx, self.hashing)

    async def close(self) -> None:
        """Stop the sandbox (if one was started; running scripts end within their time limit),
        close the HTTP client and release the database."""
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            await sandbox.close()
        egress, self._egress = self._egress, None
        if egress is not None:
            await egress.aclose()
        await self.db.dispose()
