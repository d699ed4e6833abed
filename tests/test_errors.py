"""One exception tree: every error class of the kit is a KitError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import kit
from kit._errors import KitError


def test_every_error_the_kit_defines_is_a_kit_error() -> None:
    found = {}
    for info in pkgutil.walk_packages(kit.__path__, "kit."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{info.name}.{name}"] = value
    assert len(found) >= 10, sorted(found)
    outside = sorted(n for n, c in found.items() if not issubclass(c, KitError))
    assert not outside, f"not KitErrors: {outside}"


def test_the_public_api_names_the_tree() -> None:
    for name in ("KitError", "ChainError", "ConfigurationError", "KitWarning"):
        assert issubclass(getattr(kit, name), KitError)
    assert issubclass(kit.KitWarning, UserWarning)
    assert issubclass(kit.ConfigurationError, ValueError)
