"""`hookhub backup PATH`: a consistent copy of the embedded SQLite database, also while it serves.

The copy is SQLite's online backup (`sqlite3.Connection.backup`) from a read-only connection. On a
database in WAL mode (as hookhub always runs it) that connection holds one read transaction for
the whole copy: every step reads the same snapshot, so the copy is consistent and the backup never
restarts, and a WAL reader blocks no writer (checkpoints only stop short of the snapshot until the
copy ends, so the WAL may grow meanwhile). A database in another journal mode is copied in steps
without that transaction, so a writer waits at most one step.

The copy is written to a temporary file next to PATH, checked with `PRAGMA integrity_check`, and
only then renamed to PATH: PATH never holds a half-written backup. The copy is switched to the
rollback journal, so it is one self-contained file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import typer
from sqlalchemy import make_url

# Pages copied per step: 4 MiB at SQLite's default page size; also how often the bar moves.
PAGES_PER_STEP = 1024

POSTGRESQL_REFUSAL = (
    "backup copies the embedded SQLite database; for PostgreSQL use pg_dump (see docs/operations.md)"
)

Progress = Callable[[int, int], None]  # (pages copied, pages in total)


def backup(
    path: Path = typer.Argument(..., help="Where to write the copy (a file next to it is used meanwhile)."),
    force: bool = typer.Option(False, "--force", help="Replace PATH if it exists."),
) -> None:
    """Copy the embedded SQLite database to PATH, consistently, while the server runs."""
    from hookhub.cli import _fail, _settings

    settings = _settings()
    if not settings.is_sqlite:
        _fail(POSTGRESQL_REFUSAL, 2)
    source = _database_file(settings.effective_database_url)
    if source is None:
        _fail("backup needs a database file; HOOKHUB_DATABASE_URL names an in-memory database", 1)
    if not source.is_file():
        _fail(f"no database at {source} (check HOOKHUB_DATA_DIR, or run `hookhub migrate` first)", 1)
    target = path.expanduser()
    if target.is_dir():
        _fail(f"{target} is a directory; name the backup file", 1)
    if target.exists() and not force:
        _fail(f"{target} exists; pass --force to replace it", 1)
    with contextlib.suppress(OSError):
        if target.exists() and target.resolve() == source.resolve():
            _fail(f"{target} is the live database itself", 1)

    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        _fail(f"cannot write {target}: {exc.strerror or exc}", 1)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _progress_bar() as progress:
            _copy(source, tmp, progress)
        pages, verdict = _finish_copy(tmp)
        if verdict != "ok":
            _fail(f"the copy of {source} failed its integrity check: {verdict}", 1)
        _fsync(tmp)
        os.replace(tmp, target)
        with contextlib.suppress(OSError):
            _fsync(target.parent, directory=True)
    except sqlite3.Error as exc:
        _fail(f"cannot back up {source}: {exc}", 1)
    except OSError as exc:
        _fail(f"cannot write {target}: {exc.strerror or exc}", 1)
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()
    size_mb = target.stat().st_size / 1_000_000
    typer.echo(f"backup written to {target} ({pages} pages, {size_mb:.1f} MB, integrity ok)")


def _database_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _copy(source: Path, target: Path, progress: Progress) -> None:
    """SQLite's online backup of `source` into the (empty) file `target`, in steps."""
    src = sqlite3.connect(f"file:{quote(str(source.resolve()))}?mode=ro", uri=True, timeout=30)
    try:
        src.isolation_level = None  # our BEGIN, not the driver's
        dst = sqlite3.connect(target)
        try:
            (journal_mode,) = src.execute("PRAGMA journal_mode").fetchone()
            if str(journal_mode).lower() == "wal":
                # One snapshot for every step: no restart when the server writes meanwhile.
                src.execute("BEGIN")
                src.execute("SELECT count(*) FROM sqlite_master").fetchone()

            def step(_status: int, remaining: int, total: int) -> None:
                progress(total - remaining, total)

            src.backup(dst, pages=PAGES_PER_STEP, progress=step)
        finally:
            dst.close()
    finally:
        src.close()  # ends the read transaction


def _finish_copy(copy: Path) -> tuple[int, str]:
    """Make the copy one self-contained file and check it: (its pages, integrity_check's verdict)."""
    conn = sqlite3.connect(copy)
    try:
        conn.execute("PRAGMA journal_mode=DELETE").fetchone()
        rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check").fetchall()]
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
    finally:
        conn.close()
    verdict = "ok" if rows == ["ok"] else "; ".join(rows[:3])
    return int(pages), verdict


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _progress_bar() -> Iterator[Progress]:
    """A bar of pages copied on a terminal; nothing at all when stdout is not one."""
    if not sys.stdout.isatty():
        yield lambda _done, _total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("copying pages"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("backup", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
