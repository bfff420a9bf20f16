"""Built-in WooCommerce adapter (platform ``woocommerce``): REST API v3 sync, webhooks, coupons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stammkunde.plugins.hookspecs import hookimpl
from stammkunde.plugins.woocommerce.adapter import WooCommerceAdapter

__all__ = ["WooCommerceAdapter"]


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    """Register the WooCommerce adapter."""
    register(WooCommerceAdapter())
