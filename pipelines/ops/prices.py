"""The on-demand price table the cost estimate reads: loading, checking, building it from AWS's
Price List (``python -m trainguard.pipelines.ops.refresh_prices``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from trainguard.pipelines.definition import DefinitionError

__all__ = ["INSTANCE_TYPE", "KIND_PRICE", "PRICE_TABLE_PATH", "PriceTable", "load_price_table",
           "price_table_from_price_list"]

PRICE_TABLE_PATH = Path(__file__).with_name("prices.json")
"""The shipped on-demand price table (USD per instance-hour by region and job kind)."""


KIND_PRICE = {"Processing": "Processing", "Training": "Training", "Tuning": "Training",
              "Transform": "Transform"}
INSTANCE_TYPE = re.compile(r"^ml\.([a-z0-9-]+)\.([a-z0-9]+)$")


@dataclass(frozen=True)
class PriceTable:
    """On-demand prices: ``regions[region][kind][instance_type]`` in ``currency`` per hour."""

    currency: str
    as_of: str
    source: str
    regions: Mapping[str, Mapping[str, Mapping[str, float]]]

    def price(self, region: str, kind: str, instance_type: str) -> float | None:
        """The hourly price of one instance, or None when the table does not know it."""
        by_kind = self.regions.get(region) or {}
        value = (by_kind.get(KIND_PRICE.get(kind, kind)) or {}).get(instance_type)
        return float(value) if value is not None else None


def load_price_table(path: str | Path | None = None) -> PriceTable:
    """Read a price table JSON (the shipped one by default); DefinitionError names a bad file."""
    return _load_price_table(str(path or PRICE_TABLE_PATH))


def _table_text(path: Path) -> str:
    shipped = Path(__file__).with_name("prices.json")
    if path == shipped and not path.is_file():  # the package is imported from a zip
        from importlib.resources import files

        return files(__package__ or "trainguard.pipelines.ops").joinpath(path.name).read_text(encoding="utf-8")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=4)
def _load_price_table(path: str) -> PriceTable:
    try:
        data = json.loads(_table_text(Path(path)))
    except (OSError, ValueError) as exc:
        raise DefinitionError(f"cannot read the price table {path}: {exc}; pass a JSON file made by "
                              "python -m trainguard.pipelines.ops.refresh_prices.") from None
    regions = data.get("regions") if isinstance(data, dict) else None
    if not isinstance(regions, dict) or data.get("currency") != "USD":
        raise DefinitionError(f"price table {path} must be a JSON object with currency 'USD' and a "
                              "'regions' mapping; regenerate it with "
                              "python -m trainguard.pipelines.ops.refresh_prices.")
    for region, kinds in regions.items():
        for kind, prices in (kinds or {}).items():
            for itype, value in (prices or {}).items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise DefinitionError(f"price table {path}: {region}/{kind}/{itype} must be a "
                                          f"non-negative number; got {value!r}.")
    return PriceTable(currency="USD", as_of=str(data.get("as_of", "?")),
                      source=str(data.get("source", "")), regions=regions)


def price_table_from_price_list(products: list[str | Mapping[str, Any]], *, as_of: str,
                                source: str = "AWS Price List API (pricing:GetProducts, "
                                              "ServiceCode AmazonSageMaker)") -> dict[str, Any]:
    """Turn AWS Price List GetProducts items for AmazonSageMaker into a price table mapping.

    Each item (a JSON string, as GetProducts returns them, or a parsed dict) has
    ``product.attributes`` with ``regionCode``, the instance in ``instanceName`` (or
    ``instanceType``, possibly suffixed ``-Training``) and the job kind in ``component``, and
    ``terms.OnDemand.*.priceDimensions.*`` with an hourly ``unit`` and ``pricePerUnit.USD``.
    Items for hosting, notebooks, storage, other kinds or other units are skipped.
    """
    kinds = {"training": "Training", "processing": "Processing", "transform": "Transform",
             "batch transform": "Transform"}
    regions: dict[str, dict[str, dict[str, float]]] = {}
    for raw in products:
        item = json.loads(raw) if isinstance(raw, str) else raw
        attrs = (item.get("product") or {}).get("attributes") or {}
        region = attrs.get("regionCode")
        component = str(attrs.get("component") or attrs.get("platoinstancetype") or "")
        itype = str(attrs.get("instanceName") or attrs.get("instanceType") or "")
        if component and itype.lower().endswith("-" + component.lower()):
            itype = itype[:-len(component) - 1]
        kind = kinds.get(component.lower())
        if not region or not kind or not INSTANCE_TYPE.match(itype):
            continue
        for term in ((item.get("terms") or {}).get("OnDemand") or {}).values():
            for dim in (term.get("priceDimensions") or {}).values():
                usd = (dim.get("pricePerUnit") or {}).get("USD")
                hourly = str(dim.get("unit") or "").lower().startswith(("hr", "hour"))
                if hourly and usd is not None and float(usd) > 0:
                    regions.setdefault(region, {}).setdefault(kind, {})[itype] = float(usd)
    return {"currency": "USD", "unit": "per instance-hour, on-demand, Linux", "as_of": as_of,
            "source": source,
            "regions": {r: {k: dict(sorted(v.items())) for k, v in sorted(ks.items())}
                        for r, ks in sorted(regions.items())}}
