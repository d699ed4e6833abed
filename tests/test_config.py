"""One set of settings: the magics' traits are the library's defaults, and
every KIT_* variable is listed in one place and in the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kit
from kit._config import ENVIRONMENT, KitConfig, config

ROOT = Path(__file__).resolve().parents[1]
_VARIABLE = re.compile(r"\bKIT_[A-Z0-9_]*[A-Z0-9]\b")


def _read_by_the_code() -> set[str]:
    found: set[str] = set()
    for folder in ("kit", "tests", "bench", "notebooks", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".ipynb", ""}:
                found |= set(_VARIABLE.findall(path.read_text(errors="ignore")))
    return found


def test_every_kit_variable_is_listed_once_and_in_the_readme() -> None:
    used = _read_by_the_code()
    assert "KIT_BROKER" in used and "KIT_STATE_DIR" in used
    unlisted = sorted(used - set(ENVIRONMENT))
    assert not unlisted, f"read by the code, not in kit._config.ENVIRONMENT: {unlisted}"
    stale = sorted(set(ENVIRONMENT) - used)
    assert not stale, f"listed, read nowhere: {stale}"
    readme = (ROOT / "README.md").read_text()
    missing = sorted(v for v in ENVIRONMENT if f"`{v}`" not in readme)
    assert not missing, f"not in the README: {missing}"


def test_the_magics_settings_are_the_librarys_defaults(ip: Any, topic: str) -> None:
    magics = ip.magics_manager.registry["StreamMagics"]
    assert isinstance(magics, KitConfig) and config() is magics
    ip.run_line_magic("config", "StreamMagics.peek_rows = 7")
    ip.run_line_magic("config", "StreamMagics.idle = 0.5")
    try:
        view = kit.peek(topic, idle=1)
        assert view.rows == 7  # kit.peek, not the magic, took the setting
        view.stop()
        assert kit.config().idle == 0.5
    finally:
        ip.run_line_magic("config", "StreamMagics.peek_rows = 20")
        ip.run_line_magic("config", "StreamMagics.idle = 5.0")
    assert KitConfig().peek_rows == 20
