"""Re-create the compact real transaction logs in this folder from their public sources.

Run in a throw-away virtualenv (``pip install pandas rdata``), not in the project's: neither
package is a dependency of Stammkunde. Sources (see README.md for provenance and licences):

- ONLINE_RETAIL_CSV: ``data/online_retail.csv`` of github.com/mwoitek/python-customer-segmentation
  (commit 48aee64405b0e9a19c67222c4a1da0eca0246171), one row per invoice of the UCI "Online
  Retail" data set (InvoiceNo, InvoiceDate, CustomerID, TotalPrice).
- GROCERY_RDA: ``data/groceryElog.rda`` of github.com/mplatzer/BTYDplus
  (commit d5eda8f), the event log of 1,525 customers of an online grocery store.

Usage: python derive_real.py ONLINE_RETAIL_CSV GROCERY_RDA
"""

import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pandas as pd
import rdata

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write online_retail_invoices.csv.gz and grocery_elog.csv.gz next to this script."""
    retail = pd.read_csv(sys.argv[1], dtype={"InvoiceNo": str, "CustomerID": int})
    # The source sums line totals as binary floats (139.12 arrives as 139.11999…): round to
    # pence, half to even, which is what the invoice's lines add up to.
    retail["total"] = [str(Decimal(repr(v)).quantize(Decimal("0.01"), ROUND_HALF_EVEN))
                       for v in retail["TotalPrice"]]
    out = retail.rename(columns={"InvoiceNo": "invoice", "InvoiceDate": "date",
                                 "CustomerID": "customer"})
    out = out[["invoice", "date", "customer", "total"]]
    out.sort_values(["date", "invoice"]).to_csv(HERE / "online_retail_invoices.csv.gz",
                                                index=False, compression={"method": "gzip",
                                                                          "mtime": 0})
    elog = rdata.read_rda(sys.argv[2])["groceryElog"]
    # R stores a Date as days since 1970-01-01.
    grocery = pd.DataFrame({"customer": elog["cust"].astype(int),
                            "date": pd.to_datetime(elog["date"].astype(int), unit="D",
                                                   origin="unix").dt.date.astype(str)})
    grocery.to_csv(HERE / "grocery_elog.csv.gz", index=False,
                   compression={"method": "gzip", "mtime": 0})


if __name__ == "__main__":
    main()
