"""Fake platforms (Shopify, WooCommerce) for tests and benchmarks; not part of the runtime wheel."""
