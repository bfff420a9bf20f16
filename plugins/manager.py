"""The plugin manager: finds plugins once, and owns the registry of platform adapters."""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

import pluggy

from stammkunde.core.campaigns.targets import TargetKinds, default_target_kinds
from stammkunde.core.errors import UserError
from stammkunde.plugins import hookspecs
from stammkunde.plugins.adapter import (
    Capability,
    InstallRejected,
    PlatformAdapter,
    Unsupported,
    WebhookRejected,
)

GROUP = "stammkunde"
DEFAULT_PLUGINS = (
    "stammkunde.plugins.csvfile",
    "stammkunde.plugins.shopify",
    "stammkunde.plugins.woocommerce",
    "stammkunde.plugins.simulated",
    "stammkunde.plugins.email",
    "stammkunde.plugins.shopchannel",
)
T = TypeVar("T")


class PluginError(UserError):
    """A plugin broke the contract; the message names the plugin and the hook."""


#: What the adapter contract lets an adapter raise on purpose; these pass the guard unchanged.
CONTRACT_ERRORS: tuple[type[Exception], ...] = (
    UserError, WebhookRejected, InstallRejected, Unsupported)
#: The adapter methods the rest of Stammkunde calls (those of :class:`PlatformAdapter`).
ADAPTER_METHODS = tuple(sorted(
    name for name, value in vars(PlatformAdapter).items()
    if callable(value) and not name.startswith("_")
))
#: The adapter methods that return an iterator (their items are produced under the guard too).
STREAMING = frozenset({"import_file", "fetch_orders", "fetch_customers", "push_discounts"})
_ATTRIBUTES = tuple(name for name, value in vars(PlatformAdapter).items()
                    if not callable(value) and not name.startswith("_"))


class GuardedAdapter(PlatformAdapter):
    """A registered adapter as the rest of Stammkunde sees it: every call goes through the guard.

    An exception the contract allows (:data:`CONTRACT_ERRORS`) passes unchanged; any other
    crash, also one raised while iterating what a method yields, becomes a PluginError naming
    the plugin and the method. Attributes (``name``, ``capabilities``, …) read through.
    """

    def __init__(self, adapter: PlatformAdapter, plugin_name: str) -> None:
        self._adapter = adapter
        self.plugin_name = plugin_name
        for attr in _ATTRIBUTES:  # the class defaults of PlatformAdapter must not shadow them
            setattr(self, attr, getattr(adapter, attr))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)

    def __repr__(self) -> str:
        return f"<{self.plugin_name}: {self._adapter!r}>"

    def _guard(self, method: str, *args: Any, **kw: Any) -> Any:
        try:
            result = getattr(self._adapter, method)(*args, **kw)
        except CONTRACT_ERRORS:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {self.plugin_name!r} failed in {method}: {exc}") from exc
        if method in STREAMING:
            return Plugins.iterate(self.plugin_name, method, result)
        return result


def _guarded_method(name: str) -> Callable[..., Any]:
    def method(self: GuardedAdapter, *args: Any, **kw: Any) -> Any:
        return self._guard(name, *args, **kw)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(PlatformAdapter, name).__doc__
    method.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]  # computed once
    return method


for _name in ADAPTER_METHODS:
    setattr(GuardedAdapter, _name, _guarded_method(_name))


@dataclass(frozen=True)
class PluginInfo:
    """What ``stammkunde plugins`` shows for one plugin."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    platforms: tuple[str, ...]
    channels: tuple[str, ...] = ()


class Plugins:
    """A pluggy manager plus the validated registry of what the plugins registered."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self._platforms: dict[str, tuple[PlatformAdapter, str]] = {}
        self._channels: dict[str, tuple[Any, str]] = {}
        self._guarded: dict[str, GuardedAdapter] = {}
        self._target_kinds: TargetKinds | None = None
        self._loaded = False
        self._loading = False
        self._lock = threading.RLock()  # threads of one process load the plugins once
        self._load_entry_points = load_entry_points
        self._versions: dict[str, str] = {}

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:  # another thread waits until the registry is complete
            if self._loaded or self._loading:  # done meanwhile, or a hook of ours re-enters
                return
            self._loading = True
            try:
                self._load_all()
            finally:
                self._loading = False
                self._loaded = True

    def _load_all(self) -> None:
        for module_name in DEFAULT_PLUGINS:
            module = __import__(module_name, fromlist=["_"])
            if not self.pm.is_registered(module):
                self.pm.register(module, name=module_name)
        if self._load_entry_points:
            allow = os.environ.get("STAMMKUNDE_LOAD_PLUGINS")
            allowed = None if allow is None else {p.strip() for p in allow.split(",") if p}
            for ep in metadata.entry_points(group=GROUP):
                if ep.value in DEFAULT_PLUGINS or (allowed is not None and ep.name not in allowed):
                    continue
                if self.pm.get_plugin(ep.name) is not None:
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:
                    raise PluginError(f"plugin {ep.name!r} failed to load: {exc}") from exc
                self.pm.register(plugin, name=ep.name)
                if ep.dist is not None:
                    self._versions[ep.name] = ep.dist.version
        self._collect_platforms()
        self._collect_channels()

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object by hand (tests, embedding) and refresh the registry."""
        self.pm.register(plugin, name=name)
        self._target_kinds = None
        if self._loaded:
            self._collect_platforms()
            self._collect_channels()

    def unregister(self, plugin: object) -> None:
        """Remove a plugin registered by hand and refresh the registry."""
        self.pm.unregister(plugin)
        self._target_kinds = None
        if self._loaded:
            self._collect_platforms()
            self._collect_channels()

    def _collect_platforms(self) -> None:
        # Built aside and swapped in: a thread reading the registry meanwhile sees the old one.
        platforms: dict[str, tuple[PlatformAdapter, str]] = {}
        guarded: dict[str, GuardedAdapter] = {}
        for impl in self.pm.hook.register_platforms.get_hookimpls():
            plugin_name = impl.plugin_name

            def register(adapter: Any, _plugin: str = plugin_name) -> None:
                self._add_platform(adapter, _plugin, platforms, guarded)

            self.call(plugin_name, "register_platforms", impl.function, register)
        self._guarded, self._platforms = guarded, platforms

    @staticmethod
    def _add_platform(adapter: Any, plugin_name: str,
                      platforms: dict[str, tuple[PlatformAdapter, str]],
                      guarded: dict[str, GuardedAdapter]) -> None:
        validate_adapter(adapter, plugin_name)
        if adapter.name in platforms:
            other = platforms[adapter.name][1]
            raise PluginError(
                f"plugin {plugin_name!r} (register_platforms) registered platform "
                f"{adapter.name!r}, which plugin {other!r} already registered"
            )
        platforms[adapter.name] = (adapter, plugin_name)
        guarded[adapter.name] = GuardedAdapter(adapter, plugin_name)

    def _collect_channels(self) -> None:
        from stammkunde.plugins.channels import validate_channel

        channels: dict[str, tuple[Any, str]] = {}
        for impl in self.pm.hook.register_channels.get_hookimpls():
            plugin_name = impl.plugin_name

            def register(channel: Any, _plugin: str = plugin_name) -> None:
                validate_channel(channel, _plugin)
                if channel.name in channels:
                    other = channels[channel.name][1]
                    raise PluginError(
                        f"plugin {_plugin!r} (register_channels) registered channel "
                        f"{channel.name!r}, which plugin {other!r} already registered")
                channels[channel.name] = (channel, _plugin)

            self.call(plugin_name, "register_channels", impl.function, register)
        self._channels = channels

    def channels(self) -> dict[str, Any]:
        """Return every registered delivery channel by name."""
        self._load()
        return {name: channel for name, (channel, _) in self._channels.items()}

    def channel(self, name: str) -> Any:
        """Return a delivery channel or a one-line error listing the known ones."""
        channels = self.channels()
        if name not in channels:
            known = ", ".join(sorted(channels)) or "none"
            raise UserError(f"unknown channel {name!r} (installed: {known})")
        return channels[name]

    def plugin_of_channel(self, name: str) -> str:
        """Return the name of the plugin that registered a channel."""
        self._load()
        return self._channels[name][1]

    @staticmethod
    def call(plugin_name: str, hook: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Call a plugin's function, turning its crash into an error naming plugin and hook."""
        try:
            return fn(*args, **kw)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {plugin_name!r} failed in {hook}: {exc}") from exc

    @staticmethod
    def iterate(plugin_name: str, hook: str, items: Iterable[T]) -> Iterator[T]:
        """Iterate what a plugin's generator yields; its crash becomes an error naming it.

        A ``UserError`` the plugin raises on purpose (e.g. "cannot reach the shop") already
        reads as one line for the merchant and passes through unchanged.
        """
        iterator = iter(items)
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except UserError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {plugin_name!r} failed in {hook}: {exc}") from exc
            yield item

    def target_kinds(self) -> TargetKinds:
        """Return this manager's campaign target kinds: the built-ins plus the plugins' ones.

        Built on first use from hook ``register_target_kinds``; a clash or a malformed kind
        is a PluginError naming the plugin.
        """
        self._load()
        if self._target_kinds is None:
            kinds = default_target_kinds()
            for impl in self.pm.hook.register_target_kinds.get_hookimpls():
                def register(name: str, select: Any, _plugin: str = impl.plugin_name,
                             **options: Any) -> None:
                    try:
                        kinds.register(name, select, **options)
                    except (TypeError, ValueError) as exc:
                        raise PluginError(
                            f"plugin {_plugin!r} (register_target_kinds): {exc}") from None

                self.call(impl.plugin_name, "register_target_kinds", impl.function, register)
            self._target_kinds = kinds
        return self._target_kinds

    def platforms(self) -> dict[str, PlatformAdapter]:
        """Return every registered adapter (guarded, see :class:`GuardedAdapter`) by platform."""
        self._load()
        return dict(self._guarded)

    def platform(self, name: str) -> PlatformAdapter:
        """Return a platform's adapter (guarded) or a one-line error listing the known ones.

        This is the only way to an adapter: every method called on what it returns goes
        through the guard, so a crashing plugin is named in the error.
        """
        platforms = self.platforms()
        if name not in platforms:
            known = ", ".join(sorted(platforms)) or "none"
            raise UserError(f"unknown platform {name!r} (installed: {known})")
        return platforms[name]

    def plugin_of(self, platform: str) -> str:
        """Return the name of the plugin that registered a platform."""
        self._load()
        return self._platforms[platform][1]

    def infos(self) -> list[PluginInfo]:
        """Describe every loaded plugin: name, version, hooks and platforms."""
        self._load()
        dists = {}
        for dist, plugin in self.pm.list_plugin_distinfo():
            dists[id(plugin)] = dist
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or []))
            dist = dists.get(id(plugin))
            version = (dist.version if dist is not None
                       else self._versions.get(name) or _own_version(name))
            platforms = tuple(sorted(p for p, (_, owner) in self._platforms.items()
                                     if owner == name))
            channels = tuple(sorted(c for c, (_, owner) in self._channels.items()
                                    if owner == name))
            out.append(PluginInfo(name=name, version=version, hooks=hooks, platforms=platforms,
                                  channels=channels))
        return sorted(out, key=lambda i: i.name)

    def hook(self) -> Any:
        """Return pluggy's hook relay (for hooks other than the platform registry)."""
        self._load()
        return self.pm.hook


def validate_adapter(adapter: Any, plugin_name: str) -> None:
    """Raise PluginError naming the plugin unless ``adapter`` is a well-formed PlatformAdapter."""
    if not isinstance(adapter, PlatformAdapter):
        raise PluginError(
            f"plugin {plugin_name!r} (register_platforms) registered {adapter!r}, "
            "which is not a PlatformAdapter instance"
        )
    if not adapter.name or not adapter.name.isidentifier():
        raise PluginError(
            f"plugin {plugin_name!r} (register_platforms) registered an adapter without a "
            "valid name (set the class attribute `name`, e.g. name = 'myshop')"
        )
    unknown = set(adapter.capabilities) - set(Capability)
    if unknown:
        raise PluginError(
            f"plugin {plugin_name!r} (register_platforms): unknown capabilities {unknown}"
        )


def _own_version(name: str) -> str | None:
    if name.startswith("stammkunde."):
        try:
            return metadata.version("stammkunde")
        except metadata.PackageNotFoundError:
            return None
    return None


_PLUGINS: Plugins | None = None


def get_plugins() -> Plugins:
    """Return the process-wide plugin manager, created on first use."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = Plugins()
    return _PLUGINS


@contextmanager
def plugins_for_test(*extra: object, load_entry_points: bool = False) -> Iterator[Plugins]:
    """Swap in a fresh manager with only built-ins (and ``extra`` plugins) for a test."""
    global _PLUGINS
    saved = _PLUGINS
    _PLUGINS = Plugins(load_entry_points=load_entry_points)
    try:
        for plugin in extra:
            _PLUGINS.register(plugin)
        yield _PLUGINS
    finally:
        _PLUGINS = saved
