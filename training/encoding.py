"""Categorical features as XGBoost native categories, learned on the fit rows only.

A ``FeatureEncoding`` is fitted on the rows a model trains on (each CV fold's fit part, or the
whole training split for the final model), never on the rows it is scored on, like the resampler.
Per categorical column it keeps the categories seen at least ``data.min_category_count`` times,
in sorted text order, as codes 0..K-1; rarer categories share one more code K (``other``), which
exists only when some category was pooled. At scoring time a category the encoding did not keep
(rare at fit time, or never seen) takes the ``other`` code, or is missing when there is none; a
missing cell stays missing. Numeric columns pass through unchanged.

The serving contract (docs/design.md): a served text/csv row carries each categorical feature
as its code in the order stored in the model (``model.json``'s learner attribute
``trainguard_encoding``, and evaluation.json's ``model.encoding``), an empty cell for missing,
and an unkept category as ``other`` or empty (``CategoryMap.codes_of``). A code outside the list
is still scored by XGBoost, never refused (it takes the "not in these categories" branch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ENCODING_ATTR", "CategoryMap", "FeatureEncoding"]

ENCODING_ATTR = "trainguard_encoding"
"""The booster attribute (saved in model.json) holding the encoding as JSON."""


@dataclass(frozen=True)
class CategoryMap:
    """One categorical column's codes: ``categories[k]`` has code k; ``other`` pools the rest."""

    name: str
    categories: tuple[str, ...]
    other: int | None
    """Code shared by categories rarer than the minimum count (and by unseen ones); None if none."""
    pooled: tuple[str, ...] = ()
    """The categories pooled into ``other`` at fit time (for the report)."""

    def lookup(self, vocab: Sequence[str]) -> np.ndarray:
        """Code per vocabulary index of a table, plus a final NaN entry for missing cells."""
        index = {c: float(k) for k, c in enumerate(self.categories)}
        fallback = math.nan if self.other is None else float(self.other)
        return np.array([index.get(v, fallback) for v in vocab] + [math.nan], dtype=np.float64)

    def codes_of(self, texts: Sequence[Any]) -> np.ndarray:
        """Codes for raw cell texts (None or NaN = missing), as a served row must carry them."""
        from trainguard.training.columns import category_text

        index = {c: float(k) for k, c in enumerate(self.categories)}
        fallback = math.nan if self.other is None else float(self.other)
        out = []
        for v in texts:
            t = category_text(v)
            out.append(math.nan if t is None else index.get(t, fallback))
        return np.array(out, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (model attribute and evaluation.json)."""
        return {"name": self.name, "categories": list(self.categories), "other": self.other,
                "pooled": list(self.pooled)}


@dataclass(frozen=True)
class FeatureEncoding:
    """The feature layout of a model: names, which are categorical, and their codes."""

    features: tuple[str, ...]
    columns: Mapping[int, CategoryMap]
    """Feature index -> its category map, for the categorical features."""
    min_count: int

    @classmethod
    def fit(cls, X: np.ndarray, rows: np.ndarray | None, features: Sequence[str],
            vocab: Mapping[int, Sequence[str]], min_count: int) -> FeatureEncoding:
        """Learn each categorical column's kept categories from ``X[rows]`` (all rows if None)."""
        columns: dict[int, CategoryMap] = {}
        for j, words in vocab.items():
            col = X[:, j] if rows is None else X[rows, j]
            present = col[~np.isnan(col)].astype(np.intp)
            counts = np.bincount(present, minlength=len(words))
            kept = tuple(words[k] for k in np.flatnonzero(counts >= min_count).tolist())
            pooled = tuple(words[k] for k in np.flatnonzero((counts > 0) & (counts < min_count)).tolist())
            columns[j] = CategoryMap(features[j], kept, len(kept) if pooled else None, pooled)
        return cls(tuple(features), columns, int(min_count))

    def transform(self, X: np.ndarray, vocab: Mapping[int, Sequence[str]],
                  rows: np.ndarray | None = None) -> np.ndarray:
        """A float copy of ``X[rows]`` whose categorical columns hold this encoding's codes.

        ``vocab`` is the table's own vocabulary per categorical column (X holds indices into it),
        so a table with other categories, or in another order, maps by text.
        """
        out = np.array(X if rows is None else X[rows], dtype=np.float64, copy=True)
        for j, cmap in self.columns.items():
            lut = cmap.lookup(vocab[j])
            col = out[:, j]
            out[:, j] = lut[np.where(np.isnan(col), len(lut) - 1, col).astype(np.intp)]
        return out

    @property
    def feature_types(self) -> list[str]:
        """XGBoost feature types: ``c`` for categorical, ``q`` for numeric."""
        return ["c" if j in self.columns else "q" for j in range(len(self.features))]

    @property
    def categorical(self) -> list[int]:
        """Indices of the categorical features."""
        return sorted(self.columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored in model.json and evaluation.json (read back by ``from_dict``)."""
        return {"format": 1, "features": list(self.features), "feature_types": self.feature_types,
                "min_category_count": self.min_count,
                "categorical": {self.features[j]: self.columns[j].to_dict() for j in self.categorical},
                "missing": "empty cell", "unseen": "the column's other code, else an empty cell"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureEncoding:
        """Rebuild from ``to_dict`` output."""
        features = tuple(str(f) for f in data["features"])
        cats = data.get("categorical") or {}
        columns = {features.index(name): CategoryMap(name, tuple(c["categories"]), c.get("other"),
                                                     tuple(c.get("pooled", ())))
                   for name, c in cats.items()}
        return cls(features, columns, int(data.get("min_category_count", 1)))

    def attach(self, booster: Any) -> None:
        """Store the encoding in the booster's attributes (saved with model.json)."""
        booster.set_attr(**{ENCODING_ATTR: json.dumps(self.to_dict(), separators=(",", ":"))})

    @classmethod
    def from_booster(cls, booster: Any) -> FeatureEncoding | None:
        """The encoding a booster was trained with; None for an all-numeric model."""
        raw = booster.attr(ENCODING_ATTR)
        return None if raw is None else cls.from_dict(json.loads(raw))
