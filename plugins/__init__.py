"""stammkunde.plugins: hook specs, the plugin manager, the adapter interface and built-ins."""

from stammkunde.plugins.adapter import (
    Capability,
    DiscountOffer,
    DiscountResult,
    DiscountTarget,
    InstallRejected,
    PlatformAdapter,
    Secret,
    ShopConnection,
    ShopOption,
    ShopSetup,
    Unsupported,
    WebhookEnvelope,
    WebhookRejected,
)
from stammkunde.plugins.hookspecs import hookimpl

#: Loaded on first use: a worker process that imports a light module of a plugin (the CSV rows)
#: must not load every plugin's dependencies with the manager.
_MANAGER = frozenset({"PluginError", "Plugins", "get_plugins", "plugins_for_test"})


def __getattr__(name: str) -> object:
    if name in _MANAGER:
        from stammkunde.plugins import manager

        return getattr(manager, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Capability",
    "DiscountOffer",
    "DiscountResult",
    "DiscountTarget",
    "InstallRejected",
    "PlatformAdapter",
    "PluginError",
    "Plugins",
    "Secret",
    "ShopConnection",
    "ShopOption",
    "ShopSetup",
    "Unsupported",
    "WebhookEnvelope",
    "WebhookRejected",
    "get_plugins",
    "hookimpl",
    "plugins_for_test",
]
