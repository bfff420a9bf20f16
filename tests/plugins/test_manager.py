"""The plugin manager's boundary: a plugin's crash names the plugin and the hook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stammkunde.core.errors import UserError
from stammkunde.plugins.manager import PluginError, Plugins


def _crashes_after_one() -> Iterator[int]:
    yield 1
    raise KeyError("cursor")


def _refuses() -> Iterator[int]:
    raise UserError("cannot reach the shop")
    yield 0  # pragma: no cover - makes this a generator


def test_a_crash_while_iterating_names_plugin_and_hook() -> None:
    items = Plugins.iterate("acme", "fetch_orders", _crashes_after_one())
    assert next(items) == 1
    with pytest.raises(PluginError, match=r"^plugin 'acme' failed in fetch_orders: 'cursor'$"):
        next(items)


def test_a_plugins_own_one_line_error_passes_through() -> None:
    with pytest.raises(UserError, match=r"^cannot reach the shop$") as err:
        list(Plugins.iterate("acme", "fetch_orders", _refuses()))
    assert not isinstance(err.value, PluginError)


def test_a_crash_in_a_call_names_plugin_and_hook() -> None:
    with pytest.raises(PluginError, match=r"^plugin 'acme' failed in push_discounts: boom$"):
        Plugins.call("acme", "push_discounts", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
