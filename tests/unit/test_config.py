"""Settings: environment parsing, one-line errors naming the variable, URL normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookhub.config import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own environment must not leak into these tests.
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    for var in (
        "HOOKHUB_PORT",
        "HOOKHUB_HOST",
        "HOOKHUB_DATA_DIR",
        "HOOKHUB_DATABASE_URL",
        "HOOKHUB_REGISTRATION_FORM",
        "Accounts_RegistrationForm",
        "ROOT_URL",
        "ADMIN_PASS",
    ):
        monkeypatch.delenv(var, raising=False)


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 3000)
    assert s.data_dir == Path("./hookhub-data")
    assert (s.default_count, s.upper_count_limit, s.allow_infinite_count) == (50, 100, True)
    assert s.registration_form == "Public"
    assert s.is_sqlite
    assert (
        s.effective_database_url == f"sqlite+aiosqlite:///{Path('./hookhub-data').resolve()}/hookhub.sqlite3"
    )
    assert s.site_url == "http://127.0.0.1:3000"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOOKHUB_PORT", "4100")
    monkeypatch.setenv("HOOKHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROOT_URL", "https://chat.example.com/")
    monkeypatch.setenv("HOOKHUB_API_ALLOW_INFINITE_COUNT", "false")
    s = load_settings()
    assert s.port == 4100
    assert s.data_dir == tmp_path
    assert s.site_url == "https://chat.example.com"
    assert s.allow_infinite_count is False


@pytest.mark.parametrize("value", ["abc", "70000", "-1", "3000.5"])
def test_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HOOKHUB_PORT", value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid value for HOOKHUB_PORT: ")
    assert "\n" not in message


def test_bad_override_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^invalid value for HOOKHUB_PORT: "):
        load_settings(port="nope")


def test_registration_form_alias_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Accounts_RegistrationForm", "Sometimes")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "Accounts_RegistrationForm" in str(info.value)
    monkeypatch.setenv("Accounts_RegistrationForm", "Disabled")
    assert load_settings().registration_form == "Disabled"


def test_bad_regex_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_USER_NAME_PATTERN", "[unclosed")
    with pytest.raises(SettingsError, match=r"HOOKHUB_USER_NAME_PATTERN.*not a valid regular expression"):
        load_settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/hub", "postgresql+asyncpg://u:p@db:5432/hub"),
        ("postgres://u:p@db/hub", "postgresql+asyncpg://u:p@db/hub"),
        ("postgresql+asyncpg://u@db/hub", "postgresql+asyncpg://u@db/hub"),
        ("sqlite:////var/lib/hub.db", "sqlite+aiosqlite:////var/lib/hub.db"),
        ("sqlite+aiosqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
    ],
)
def test_database_url_normalisation(monkeypatch: pytest.MonkeyPatch, given: str, expected: str) -> None:
    monkeypatch.setenv("HOOKHUB_DATABASE_URL", given)
    s = load_settings()
    assert s.database_url == expected
    assert s.effective_database_url == expected
    assert s.is_sqlite is expected.startswith("sqlite")


def test_empty_database_url_means_embedded_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_DATABASE_URL", "")
    assert load_settings().database_url is None


def test_unsupported_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_DATABASE_URL", "mysql://u@db/hub")
    with pytest.raises(SettingsError, match=r"^invalid value for HOOKHUB_DATABASE_URL: .*sqlite.*postgresql"):
        load_settings()


def test_secrets_are_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PASS", "hunter2-secret")
    s = load_settings()
    assert s.admin_pass == "hunter2-secret"
    assert "hunter2-secret" not in repr(s)


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        variables = [alias] if isinstance(alias, str) else [str(c) for c in getattr(alias, "choices", [])]
        assert variables, name
        for variable in variables:
            assert f"`{variable}`" in table, (
                f"{variable} ({name}) is missing from README's Configuration table"
            )


@pytest.mark.parametrize(("given", "expected"), [("INFO", "info"), (" Debug ", "debug"), ("trace", "trace")])
def test_log_level_is_normalised(monkeypatch: pytest.MonkeyPatch, given: str, expected: str) -> None:
    monkeypatch.setenv("HOOKHUB_LOG_LEVEL", given)
    assert load_settings().log_level == expected


def test_unknown_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_LOG_LEVEL", "verbose")
    with pytest.raises(SettingsError, match=r"^invalid value for HOOKHUB_LOG_LEVEL: .*must be one of"):
        load_settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", []),
        ("127.0.0.1/32", ["127.0.0.1/32"]),
        (" 10.0.0.0/8 , ci.internal,, ::1 ", ["10.0.0.0/8", "ci.internal", "::1"]),
        ("fe80::/10,localhost", ["fe80::/10", "localhost"]),
    ],
)
def test_egress_allow_is_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: list[str]
) -> None:
    monkeypatch.setenv("HOOKHUB_EGRESS_ALLOW", given)
    assert load_settings().egress_allow == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("300.1.1.1", "'300.1.1.1' is not a valid CIDR or address"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a valid CIDR or address"),
        ("bad host!", "'bad host!' is not a valid host name"),
    ],
)
def test_bad_egress_allow_entries_are_named(
    monkeypatch: pytest.MonkeyPatch, given: str, message: str
) -> None:
    monkeypatch.setenv("HOOKHUB_EGRESS_ALLOW", given)
    with pytest.raises(SettingsError, match="HOOKHUB_EGRESS_ALLOW") as caught:
        load_settings()
    assert message in str(caught.value)


def test_outgoing_defaults() -> None:
    s = load_settings()
    assert (s.outgoing_concurrency, s.outgoing_max_depth, s.retry_time_scale) == (32, 3, 1.0)
    assert (s.history_ttl_days, s.history_max_per_integration, s.egress_allow) == (30, 10000, [])
