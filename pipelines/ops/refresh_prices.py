"""Refresh the shipped price table from the AWS Price List API's output.

Save GetProducts pages for SageMaker, then convert them (no network in this step)::

    aws pricing get-products --region us-east-1 --service-code AmazonSageMaker \\
        --filters Type=TERM_MATCH,Field=regionCode,Value=eu-west-1 > page1.json
    python -m trainguard.pipelines.ops.refresh_prices page1.json [page2.json ...] \\
        --as-of 2026-01-15 --out pipelines/ops/prices.json

``--fetch REGION ...`` calls pricing:GetProducts itself (boto3, your credentials) instead of
reading files. Regions already in the output file and absent from the input are kept, so one
region can be refreshed at a time. The file is replaced atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from trainguard.pipelines.ops.prices import PRICE_TABLE_PATH, price_table_from_price_list
from trainguard.training.files import write_text

__all__ = ["fetch_products", "main", "merge_tables", "read_pages", "write_table"]


def read_pages(paths: Iterable[str | Path]) -> list[Any]:
    """The PriceList items of saved GetProducts responses (``{"PriceList": [...]}`` each)."""
    items: list[Any] = []
    for p in paths:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("PriceList"), list):
            raise SystemExit(f"{p}: not a GetProducts response (no 'PriceList' list).")
        items.extend(data["PriceList"])
    return items


def fetch_products(regions: Sequence[str], session: Any = None) -> list[Any]:
    """Call pricing:GetProducts for SageMaker in each region (all pages)."""
    import boto3

    client = (session or boto3.Session()).client("pricing", region_name="us-east-1")
    items: list[Any] = []
    for region in regions:
        pages = client.get_paginator("get_products").paginate(
            ServiceCode="AmazonSageMaker",
            Filters=[{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}])
        for page in pages:
            items.extend(page.get("PriceList") or [])
    return items


def merge_tables(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the regions only ``old`` has kept (a per-region refresh keeps the rest)."""
    if not old:
        return new
    regions = {**(old.get("regions") or {}), **new["regions"]}
    return {**new, "regions": dict(sorted(regions.items()))}


def write_table(table: dict[str, Any], out: str | Path) -> None:
    """Write the table JSON whole or not at all (``training.files``)."""
    write_text(out, json.dumps(table, indent=1, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: pages (or --fetch regions) in, price table out."""
    parser = argparse.ArgumentParser(prog="refresh_prices", description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="saved GetProducts responses (JSON)")
    parser.add_argument("--fetch", nargs="+", metavar="REGION", help="call GetProducts for these regions")
    parser.add_argument("--as-of", required=True, help="the date the prices were read (YYYY-MM-DD)")
    parser.add_argument("--out", default=str(PRICE_TABLE_PATH), help="price table to write")
    args = parser.parse_args(argv)
    if not args.pages and not args.fetch:
        parser.error("give saved GetProducts pages or --fetch REGION")
    items = fetch_products(args.fetch) if args.fetch else read_pages(args.pages)
    table = price_table_from_price_list(items, as_of=args.as_of)
    if not table["regions"]:
        print("no SageMaker training or processing prices found in the input; nothing written.",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    old = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else None
    write_table(merge_tables(old, table), out)
    counts = {r: sum(len(v) for v in k.values()) for r, k in table["regions"].items()}
    print(f"{out}: " + ", ".join(f"{r} {n} prices" for r, n in counts.items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
