"""`hookhub backup PATH`: a consistent, checked copy of the SQLite database, also while a server
writes to it; PostgreSQL refused without connecting; one-line errors."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hookhub import cli_backup
from hookhub.cli import cli
from hookhub.config import Settings
from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Client, http_get, serving

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The developer's environment (or a PostgreSQL test run) must not choose the database.
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("HOOKHUB_DATABASE_URL", raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("HOOKHUB_DATA_DIR", str(data))
    return data


def _invoke(*args: str) -> Any:
    return runner.invoke(cli, list(args))


def _migrated(data_dir: Path, extra_rows: int = 0) -> Path:
    result = _invoke("migrate")
    assert result.exit_code == 0, result.output
    database = data_dir / "hookhub.sqlite3"
    if extra_rows:
        # Enough pages for several backup steps, in a table of its own.
        with contextlib.closing(sqlite3.connect(database)) as conn, conn:
            conn.execute("CREATE TABLE backup_probe (n INTEGER PRIMARY KEY, blob TEXT)")
            conn.executemany(
                "INSERT INTO backup_probe VALUES (?, ?)", ((n, f"{n:06d}" * 100) for n in range(extra_rows))
            )
    return database


def _tables(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}


def _integrity(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]


def test_backup_is_a_valid_copy_with_the_same_rows(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = _migrated(data_dir, extra_rows=3000)
    monkeypatch.setattr(cli_backup, "PAGES_PER_STEP", 64)
    target = tmp_path / "copy.sqlite3"
    result = _invoke("backup", str(target))
    assert result.exit_code == 0, result.output
    pages = target.stat().st_size // 4096
    assert pages > cli_backup.PAGES_PER_STEP  # copied in several steps
    mb = f"{target.stat().st_size / 1_000_000:.1f}"
    assert result.stdout == f"backup written to {target} ({pages} pages, {mb} MB, integrity ok)\n"
    assert result.stderr == ""
    assert _integrity(target) == ["ok"]
    copied = _tables(target)
    assert copied == _tables(database)
    assert len(copied["backup_probe"]) == 3000 and copied["alembic_version"]
    # one self-contained file: no temporary or WAL file left next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite3", "data"]
    with contextlib.closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_existing_path_is_refused_without_force_and_replaced_with_it(data_dir: Path, tmp_path: Path) -> None:
    _migrated(data_dir)
    target = tmp_path / "copy.sqlite3"
    target.write_bytes(b"an older backup")
    refused = _invoke("backup", str(target))
    assert refused.exit_code == 1
    assert refused.stderr == f"hookhub: {target} exists; pass --force to replace it\n"
    assert target.read_bytes() == b"an older backup"

    replaced = _invoke("backup", str(target), "--force")
    assert replaced.exit_code == 0, replaced.output
    assert _integrity(target) == ["ok"]
    assert "alembic_version" in _tables(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite3", "data"]


def test_postgresql_is_refused_without_connecting_or_showing_the_password(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKHUB_DATABASE_URL", "postgresql://hookhub:Sup3r-Secret-pw@127.0.0.1:1/hookhub")

    def no_connection(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("backup must not connect anywhere on PostgreSQL")

    monkeypatch.setattr(sqlite3, "connect", no_connection)
    target = tmp_path / "copy.dump"
    result = _invoke("backup", str(target))
    assert result.exit_code == 2
    assert result.stderr == (
        "hookhub: backup copies the embedded SQLite database; for PostgreSQL use pg_dump "
        "(see docs/operations.md)\n"
    )
    assert result.stdout == ""
    assert "Sup3r-Secret-pw" not in result.output
    assert not target.exists()


def test_errors_are_one_line_and_leave_nothing_behind(data_dir: Path, tmp_path: Path) -> None:
    missing = _invoke("backup", str(tmp_path / "copy.sqlite3"))
    assert missing.exit_code == 1
    assert missing.stderr == (
        f"hookhub: no database at {(data_dir / 'hookhub.sqlite3').resolve()} "
        "(check HOOKHUB_DATA_DIR, or run `hookhub migrate` first)\n"
    )
    assert missing.exception is None or isinstance(missing.exception, SystemExit)

    _migrated(data_dir)
    unwritable = tmp_path / "no-such-dir" / "copy.sqlite3"
    result = _invoke("backup", str(unwritable))
    assert result.exit_code == 1
    assert result.stderr == f"hookhub: cannot write {unwritable}: No such file or directory\n"
    assert "Traceback" not in result.output

    directory = _invoke("backup", str(tmp_path))
    assert directory.exit_code == 1
    assert directory.stderr == f"hookhub: {tmp_path} is a directory; name the backup file\n"


def test_a_failed_integrity_check_leaves_no_backup(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _migrated(data_dir)
    monkeypatch.setattr(cli_backup, "_finish_copy", lambda _copy: (1, "*** in database main ***"))
    target = tmp_path / "copy.sqlite3"
    result = _invoke("backup", str(target))
    assert result.exit_code == 1
    assert "failed its integrity check: *** in database main ***" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_integrity_check_reports_a_damaged_copy(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite3"
    with contextlib.closing(sqlite3.connect(damaged)) as conn, conn:
        conn.execute("CREATE TABLE t (k TEXT)")
        conn.execute("CREATE INDEX t_k ON t (k)")
        conn.executemany("INSERT INTO t VALUES (?)", ((f"key-{n:03d}",) for n in range(100)))
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 't_k'").fetchone()
    assert cli_backup._finish_copy(damaged)[1] == "ok"
    # change one key inside the index only: the index no longer matches its table
    raw = bytearray(damaged.read_bytes())
    page = slice((root - 1) * 4096, root * 4096)
    index_page = bytes(raw[page])
    assert b"key-050" in index_page
    raw[page] = index_page.replace(b"key-050", b"key-zzz")
    damaged.write_bytes(bytes(raw))
    pages, verdict = cli_backup._finish_copy(damaged)
    assert verdict != "ok" and "t_k" in verdict
    assert pages > 1


def test_backup_while_a_server_takes_writes(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real server on the same data directory keeps posting messages during the copy: its
    writers are not blocked (posts complete while the backup is paused mid-copy), and the copy
    is a consistent snapshot that passes integrity_check and has every table."""
    _migrated(data_dir, extra_rows=3000)
    monkeypatch.setattr(cli_backup, "PAGES_PER_STEP", 64)
    posted = 0
    stop = threading.Event()
    failures: list[str] = []

    # SQLite even on a PostgreSQL test run: backup is about the embedded database.
    with serving(data_dir, HOOKHUB_DATABASE_URL="") as server, Client(server.base_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASS)

        def post_messages() -> None:
            nonlocal posted
            with Client(server.base_url) as poster:
                poster.headers = dict(admin.headers)
                while not stop.is_set():
                    r = poster.post("chat.postMessage", channel="#general", text=f"during backup {posted}")
                    if r.status_code != 200:
                        failures.append(r.text)
                        return
                    posted += 1

        # While the copy is under way (first step done), wait until the server has committed more posts.
        steps: list[tuple[int, int]] = []
        real_bar = cli_backup._progress_bar

        @contextlib.contextmanager
        def pausing_bar() -> Iterator[cli_backup.Progress]:
            with real_bar() as update:

                def on_step(done: int, total: int) -> None:
                    steps.append((done, total))
                    if len(steps) == 1:
                        wanted = posted + 20
                        deadline = time.monotonic() + 20
                        while posted < wanted and not failures and time.monotonic() < deadline:
                            time.sleep(0.01)
                        assert posted >= wanted, f"writers blocked during the backup: {failures}"
                    update(done, total)

                yield on_step

        monkeypatch.setattr(cli_backup, "_progress_bar", pausing_bar)
        poster = threading.Thread(target=post_messages)
        poster.start()
        try:
            deadline = time.monotonic() + 20
            while posted < 5 and not failures and time.monotonic() < deadline:
                time.sleep(0.01)
            before = posted
            target = tmp_path / "live.sqlite3"
            result = _invoke("backup", str(target))
            after = posted
        finally:
            stop.set()
            poster.join(timeout=30)
        assert not failures, failures
        assert result.exit_code == 0, (result.output, result.exception)
        assert after >= before + 20
        assert len(steps) > 2 and steps[-1][0] == steps[-1][1]
        # one snapshot for the whole copy: the writes meanwhile never made it start over
        done = [d for d, _total in steps]
        assert done == sorted(set(done)), steps
        assert result.stdout.startswith(f"backup written to {target} (")
        assert result.stdout.endswith(" MB, integrity ok)\n")

    assert _integrity(target) == ["ok"]
    copied = _tables(target)
    live = _tables(data_dir / "hookhub.sqlite3")
    assert set(copied) == set(live)
    assert len(copied["backup_probe"]) == 3000
    # one snapshot: taken after the posts acknowledged before the backup, before the later ones
    during = [row for row in copied["messages"] if "during backup" in repr(row)]
    assert before <= len(during) <= after
    assert len([row for row in live["messages"] if "during backup" in repr(row)]) == posted

    # restore (docs/operations.md): the copy as HOOKHUB_DATA_DIR/hookhub.sqlite3 of a new server
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(target, restored / "hookhub.sqlite3")
    with serving(restored, HOOKHUB_DATABASE_URL="") as server, Client(server.base_url) as admin:
        assert http_get(f"{server.base_url}/readyz").status_code == 200
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        r = admin.post("chat.postMessage", channel="#general", text="after restore")
        assert r.status_code == 200, r.text
