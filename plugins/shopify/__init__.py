"""Built-in Shopify adapter (platform ``shopify``): GraphQL sync, webhooks, codes, install."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stammkunde.plugins.hookspecs import hookimpl
from stammkunde.plugins.shopify.adapter import ShopifyAdapter

__all__ = ["ShopifyAdapter"]


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    """Register the Shopify adapter."""
    register(ShopifyAdapter())
