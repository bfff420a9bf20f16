"""The plugin manager's boundary: a plugin's crash names the plugin and the hook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stammkunde.core.errors import UserError
from stammkunde.core.records import Batch
from stammkunde.plugins import hookimpl
from stammkunde.plugins.adapter import Capability, PlatformAdapter, ShopSetup, Unsupported
from stammkunde.plugins.manager import PluginError, Plugins, plugins_for_test


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


class _Crashy(PlatformAdapter):
    """An adapter that crashes (a bug, not a contract error) in every method it offers."""

    name = "crashy"
    capabilities = frozenset({Capability.SYNC, Capability.IMPORT_FILE})
    file_formats = ("crashy",)

    def configure_shop(self, options):  # type: ignore[no-untyped-def]
        if options.get("domain") == "broken":
            raise AttributeError("'NoneType' object has no attribute 'strip'")
        return ShopSetup(domain=options.get("domain"))

    def fetch_orders(self, shop, since=None, cursor=None):  # type: ignore[no-untyped-def]
        yield Batch(records=[], cursor="1")
        raise KeyError("base_url")

    def fetch_customers(self, shop, since=None, cursor=None):  # type: ignore[no-untyped-def]
        return iter(())

    def import_file(self, path, fmt, shop):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division by zero")


class _CrashyPlugin:
    @hookimpl
    def register_platforms(self, register) -> None:  # type: ignore[no-untyped-def]
        register(_Crashy())


@pytest.fixture
def crashy(cli_env) -> Iterator[None]:  # type: ignore[no-untyped-def]
    with plugins_for_test(_CrashyPlugin()):
        yield


@pytest.mark.parametrize(("args", "message"), [
    (["shops", "add", "x", "--platform", "crashy", "--domain", "broken"],
     "failed in configure_shop: 'NoneType' object has no attribute 'strip'"),
    (["sync", "s"], "failed in fetch_orders: 'base_url'"),
    (["import", "s", "FILE"], "failed in import_file: division by zero"),
])
def test_every_adapter_call_goes_through_the_guard(crashy, tmp_path, args, message) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from stammkunde.app.cli import cli
    from stammkunde.plugins.manager import get_plugins

    runner = CliRunner()
    assert runner.invoke(cli, ["shops", "add", "s", "--platform", "crashy",
                               "--domain", "s.example"]).exit_code == 0
    (tmp_path / "o.crashy").write_text("x")
    args = [str(tmp_path / "o.crashy") if a == "FILE" else a for a in args]
    result = runner.invoke(cli, args)
    plugin = get_plugins().plugin_of("crashy")
    assert (result.exit_code, result.output.strip().splitlines()[-1]) == (
        2, f"error: plugin {plugin!r} {message}")


def test_the_guarded_adapter_reads_attributes_through_and_passes_contract_errors() -> None:
    manager = Plugins(load_entry_points=False)
    manager.register(_CrashyPlugin(), name="crashy-plugin")
    adapter = manager.platform("crashy")
    assert (adapter.name, adapter.file_formats) == ("crashy", ("crashy",))
    assert adapter.capabilities == frozenset({Capability.SYNC, Capability.IMPORT_FILE})
    with pytest.raises(Unsupported):  # the contract's own "not offered" is not a crash
        adapter.push_discounts(None, None, [])  # type: ignore[arg-type]
    with pytest.raises(PluginError, match=r"^plugin 'crashy-plugin' failed in import_file"):
        adapter.import_file(None, None, None)  # type: ignore[arg-type]


def test_a_thread_asking_while_another_loads_waits_for_the_whole_registry(monkeypatch) -> None:
    import threading

    plugins = Plugins(load_entry_points=False)
    collect = plugins._collect_platforms
    loading = threading.Event()

    def slow_collect() -> None:
        loading.set()
        threading.Event().wait(0.3)  # the first thread is still filling the registry
        collect()

    monkeypatch.setattr(plugins, "_collect_platforms", slow_collect)
    seen: dict[str, list[str]] = {}
    first = threading.Thread(target=lambda: seen.update(first=sorted(plugins.platforms())))
    first.start()
    assert loading.wait(5)
    second = sorted(plugins.platforms())  # must not see a half-loaded (empty) registry
    first.join(5)
    assert second == seen["first"] and "shopify" in second
