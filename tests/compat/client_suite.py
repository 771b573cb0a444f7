"""Run a Rocket.Chat client's own pytest suite, from its source release, against a hookhub.

The release is used as published: it is unpacked into a temporary directory and its test files
run unmodified, with the client library of the same release (not the one installed here), in a
child `python -m pytest`-equivalent process. Nothing of the release is kept in this repository.

This file has two roles:

* imported by the compat tests: `find_release`, `unpack`, `run_suite`;
* executed by the child as a script (`python client_suite.py PYTEST_ARGS...`, in the unpacked
  release): it puts the release's own client library first on `sys.path`, points the client's
  default server URL at the hookhub under test and hands over to pytest.

Why the URL is re-pointed: the `rocketchat_API` suite reads no configuration at all; its conftest
builds `RocketChat()` / `RocketChat(user, password)`, i.e. the constructor's default
`server_url="http://127.0.0.1:3000"` (its CI publishes Rocket.Chat on that port). Changing that one
default lets each run use a free port instead of occupying 3000; no test or fixture is altered.
The script imports nothing from `tests.` (the release's own `tests` package takes that name).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from email.parser import HeaderParser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_URL_VAR = "HOOKHUB_CLIENT_SERVER_URL"
CLIENT_DEFAULT_URL = "http://127.0.0.1:3000"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def find_release(env_var: str, default: str) -> Path | None:
    """The release named by `env_var` (a `.tar.gz` sdist, or its unpacked directory), else
    `default` relative to the repository root; None when it does not exist."""
    path = Path(os.environ.get(env_var) or REPO_ROOT / default)
    return path if path.exists() else None


def unpack(release: Path, into: Path, *, project: str, version: str) -> Path:
    """A private copy of the release under `into`; returns its top directory (the one holding
    PKG-INFO and tests/), after checking that it is `project` at `version`."""
    into.mkdir(parents=True, exist_ok=True)
    if release.is_dir():
        root = into / release.name
        shutil.copytree(release, root)
    else:
        with tarfile.open(release) as archive:
            archive.extractall(into, filter="data")
        tops = [p for p in into.iterdir() if p.is_dir()]
        assert len(tops) == 1, f"{release}: expected one top directory, found {tops}"
        root = tops[0]
    info = HeaderParser().parsestr((root / "PKG-INFO").read_text())
    found = (info["Name"], info["Version"])
    assert found[0].lower().replace("_", "-") == project.lower() and found[1] == version, (
        f"{release} is {found}, not {project} {version}"
    )
    return root


def _child_env(server_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in _PROXY_VARS and not k.startswith(("PYTEST_", "PYTHON", "COV_"))
    }
    env.update(
        {
            SERVER_URL_VAR: server_url,
            # only 127.0.0.1 is ever contacted; the developer's proxy must not see it
            "NO_PROXY": "127.0.0.1,localhost",
            # the release's suite with plain pytest: none of the plugins installed here
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_suite(
    root: Path, server_url: str, pytest_args: list[str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run pytest on the unpacked release at `root` against `server_url`; output is merged."""
    command = [sys.executable, str(Path(__file__).resolve()), "-p", "no:cacheprovider", *pytest_args]
    try:
        return subprocess.run(
            command,
            cwd=root,
            env=_child_env(server_url),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        raise AssertionError(f"the client's suite did not finish within {timeout}s\n{out or ''}") from None


def _point_client_at(server_url: str) -> None:
    """Make `server_url` the default of the release's `RocketChatBase.__init__`."""
    sys.path.insert(0, os.getcwd())
    from rocketchat_API.APISections import base  # the release's own copy, first on sys.path

    where = Path(base.__file__).resolve()
    if not where.is_relative_to(Path.cwd().resolve()):
        raise SystemExit(f"imported rocketchat_API from {where}, not from the release in {Path.cwd()}")
    init = base.RocketChatBase.__init__
    code = init.__code__
    names = code.co_varnames[: code.co_argcount]
    defaults = list(init.__defaults__ or ())
    index = names.index("server_url") - (len(names) - len(defaults))
    if defaults[index] != CLIENT_DEFAULT_URL:
        raise SystemExit(
            f"the client's default server_url is {defaults[index]!r}, not {CLIENT_DEFAULT_URL!r}"
        )
    defaults[index] = server_url
    init.__defaults__ = tuple(defaults)
    print(f"client_suite: rocketchat_API from {where.parent.parent}, default server_url={server_url}")


def main(argv: list[str]) -> int:
    _point_client_at(os.environ[SERVER_URL_VAR])
    import pytest

    return int(pytest.main(argv))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
