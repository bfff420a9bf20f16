"""Orders drawn from the BG/NBD and Gamma-Gamma processes, for tests that need the model."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from stammkunde.core.clv.simulate import simulate_orders
from stammkunde.core.records import OrderRecord

AS_OF = datetime(2024, 6, 30, tzinfo=UTC)
# CDNOW estimates (weeks) and a Gamma-Gamma spend in euros
BGNBD = (0.243, 4.414, 0.793, 2.426)
SPEND = (6.25, 3.74, 15.44)


def simulated_orders(n: int = 300, seed: int = 7) -> list[OrderRecord]:
    """Orders of n simulated customers up to AS_OF, channel by customer parity."""
    sim = simulate_orders(n, BGNBD, SPEND, 540.0, np.random.default_rng(seed),
                          as_of_day=AS_OF.timestamp() / 86_400)
    records = []
    for k, (cust, day, value) in enumerate(zip(sim.customer_idx, sim.order_days, sim.values,
                                               strict=True)):
        records.append(OrderRecord(
            platform_id=f"o{k}", created_at=datetime.fromtimestamp(float(day) * 86_400, UTC),
            total=max(Decimal(f"{value:.2f}"), Decimal("0.01")), currency="EUR",
            customer_id=f"c{cust}", channel="pos" if cust % 2 else "online",
            discount_codes=("WELCOME",) if cust % 5 == 0 else ()))
    return records
