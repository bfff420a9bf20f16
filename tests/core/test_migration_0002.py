"""Migration 0002_inbox creates exactly the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from stammkunde.core.db import make_engine, upgrade
from stammkunde.core.models import Base

NEW = {"webhook_inbox", "audit_log", "pending_refunds", "order_tombstones"}


def test_upgrade_matches_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= NEW
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = [d for d in diffs if any(t in repr(d) for t in NEW)]
    assert mine == []
    uniques = {u["name"]: u["column_names"]
               for u in inspect(engine).get_unique_constraints("webhook_inbox")}
    assert uniques == {"uq_webhook_inbox_delivery": ["platform", "shop_domain", "delivery_id"]}
