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
from stammkunde.plugins.manager import PluginError, Plugins, get_plugins, plugins_for_test

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
