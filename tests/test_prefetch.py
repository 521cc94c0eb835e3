"""Reading the user's table ahead: handed over only for the very same read, never stale."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from trainguard.training import data as data_mod
from trainguard.training import prefetch
from trainguard.training.config import load_config
from trainguard.training.errors import DataError


def _table(path: Path, n: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = ["a,b,label", *(f"{x:.6f},{z:.6f},{int(x + 1.5 * e > 0.8)}"
                           for x, z, e in rng.normal(size=(n, 3)))]
    path.write_text("\n".join(rows) + "\n")
    return path


def _counting_loads(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = data_mod._load

    def counting(file, *args, **kwargs):
        calls.append(Path(file).name)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(data_mod, "_load", counting)
    return calls


def test_the_next_read_of_the_file_takes_the_table_read_ahead(tmp_path: Path, monkeypatch) -> None:
    calls = _counting_loads(monkeypatch)
    user = _table(tmp_path / "user.csv")
    staged = tmp_path / "job" / "data.csv"
    staged.parent.mkdir()
    os.link(user, staged)  # the local run stages the user's file as a hard link
    roles = load_config(overrides={"data.target": "label"}).data
    forget = prefetch.prefetch_table(user, "label", roles=roles)
    got = data_mod.load_table(staged.parent, "label", roles=roles)
    assert calls == ["user.csv"]  # parsed once, ahead; the job's read took it
    fresh = data_mod.load_table(staged, "label", roles=roles)
    assert calls == ["user.csv", "data.csv"]  # handed over once only
    assert np.array_equal(got.X, fresh.X) and np.array_equal(got.y, fresh.y)
    assert got.source == str(staged) and got.feature_names == fresh.feature_names
    forget()


def test_a_file_changed_since_or_another_read_is_parsed_afresh(tmp_path: Path, monkeypatch) -> None:
    calls = _counting_loads(monkeypatch)
    path = _table(tmp_path / "t.csv", seed=1)
    forget = prefetch.prefetch_table(path, "label")
    other_target = load_config(overrides={"data.target": "label", "data.exclude": ["b"]}).data
    assert data_mod.load_table(path, "label", roles=other_target).feature_names == ["a"]  # other roles
    _table(path, n=50, seed=2)  # rewritten: another size and modification time
    os.utime(path, ns=(1, 1))
    assert data_mod.load_table(path, "label").n_rows == 50
    forget()
    assert prefetch._jobs == {}
    assert calls == ["t.csv", "t.csv", "t.csv"]


def test_a_table_that_fails_to_parse_is_worded_by_the_jobs_own_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\n1,0\nx,1\n2,\n")
    forget = prefetch.prefetch_table(bad, "label")
    with pytest.raises(DataError) as err:
        data_mod.load_table(bad, "label")
    assert "bad.csv" in str(err.value)
    forget()
    assert prefetch.prefetch_table(tmp_path / "missing.csv", "label")() is None  # nothing to read


def test_the_local_run_parses_the_users_table_once(tmp_path: Path, monkeypatch) -> None:
    from trainguard.pipelines.local.run import run_local

    calls = _counting_loads(monkeypatch)
    user = _table(tmp_path / "user.csv", n=600, seed=3)
    result = run_local(data=user, target="label", workdir=tmp_path / "w", registry=tmp_path / "r.db",
                       overrides={"tuning.max_jobs": 1, "cv.folds": 2, "xgboost.num_round": 10,
                                  "approval.min_auc": 0.0, "approval.min_recall": 0.0})
    assert result.status == "Approved", result.message
    assert calls.count("user.csv") == 1  # the prefetch's; the preprocess job took it
    assert "data.csv" not in calls and "user.csv" in calls
    assert prefetch._jobs == {}


def test_the_table_handed_over_is_not_kept_alive_by_the_prefetch(tmp_path: Path) -> None:
    """The run holds its forget function to the end: that must not keep the table in memory
    after the job that took it has dropped it (a second copy through the rest of the run)."""
    import gc
    import weakref

    path = _table(tmp_path / "t.csv")
    forget = prefetch.prefetch_table(path, "label")
    ds = data_mod.load_table(path, "label")
    alive = weakref.ref(ds.X.base if ds.X.base is not None else ds.X)
    del ds
    gc.collect()
    assert alive() is None
    forget()
