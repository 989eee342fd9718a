"""Settings: every knob is a VFRAME_* variable with a documented default, read and validated at start."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
from conftest import ROOT

from vframe.settings import Settings, env_name

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", [item.name for item in fields(Settings)])
def test_the_readme_documents_every_setting_with_its_flag_and_default(name: str) -> None:
    default = getattr(Settings(), name)
    row = re.search(rf"^\| `{env_name(name)}` \| `--{name.replace('_', '-')}` \| ([^|]+) \|", README, re.MULTILINE)
    assert row is not None, f"README's settings table has no row for {env_name(name)}"
    assert row.group(1).strip() == (str(default) if default != "" else "(none)")


def test_variables_are_read_with_their_types() -> None:
    settings = Settings.from_env({"VFRAME_WORKERS": "3", "VFRAME_DEADLINE_SECONDS": "2.5", "VFRAME_ROOT": "/srv/v"})
    assert (settings.workers, settings.deadline_seconds, settings.root) == (3, 2.5, "/srv/v")
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"VFRAME_WORKERS": "two"}, "VFRAME_WORKERS must be a number"),
        ({"VFRAME_QUEUE_SIZE": "0"}, "VFRAME_QUEUE_SIZE must be positive"),
        ({"VFRAME_DEADLINE_SECONDS": "-1"}, "VFRAME_DEADLINE_SECONDS must be positive"),
        ({"VFRAME_PORT": "70000"}, "VFRAME_PORT must be 0 to 65535"),
        ({"VFRAME_MAX_WIDTH": "100", "VFRAME_MAX_HEIGHT": "200"}, "cannot exceed"),
        ({"VFRAME_JPEG_QUALITY": "101"}, "1 to 100"),
    ],
)
def test_a_malformed_value_is_refused_naming_its_variable(environ: dict[str, str], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Settings.from_env(environ)


def test_zero_means_a_default_where_documented() -> None:
    settings = Settings.from_env({"VFRAME_WORKERS": "0", "VFRAME_CACHE_BYTES": "0", "VFRAME_PORT": "0"})
    assert settings.worker_count >= 1
    assert settings.cache_bytes == 0
