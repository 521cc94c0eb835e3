"""``python -m trainguard.training.monitor``: exit statuses, output files and bad input.

0 clean, 1 violations, 2 bad input with one message naming the file; on bad input nothing is
written to --out, so no file can be mistaken for a clean result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from trainguard.training.monitor.__main__ import main


def _csv(path: Path, n: int, seed: int, shift: float = 0.0, cols: tuple[str, ...] = ("a", "b")) -> Path:
    rng = np.random.default_rng(seed)
    seg = rng.choice(["u", "v", "w"], size=n)
    lines = [",".join([*cols, "seg", "label"])]
    for i in range(n):
        nums = ",".join(f"{rng.normal() + shift:.5f}" for _ in cols)
        lines.append(f"{nums},{seg[i]},{i % 2}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    data = _csv(tmp_path / "train.csv", 1_000, 0)
    out = tmp_path / "baseline"
    assert main(["baseline", "--data", str(data), "--out", str(out), "--set", "data.target=label"]) == 0
    return out


def test_clean_data_exits_0_and_writes_model_monitor_files(baseline, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["check", "--baseline", str(baseline), "--data",
                 str(_csv(tmp_path / "new.csv", 1_000, 1)), "--out", str(out)])
    assert code == 0
    assert "clean: no violation" in capsys.readouterr().out
    assert json.loads((out / "constraint_violations.json").read_text()) == {"violations": []}
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["dataset"]["item_count"] == 1_000
    assert [f["name"] for f in stats["features"]] == ["a", "b", "seg"]


def test_drift_exits_1_and_json_lists_the_table(baseline, tmp_path, capsys):
    code = main(["check", "--baseline", str(baseline), "--data",
                 str(_csv(tmp_path / "new.csv", 1_000, 2, shift=0.6)), "--json"])
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["drifted"] == ["a", "b"]
    row = report["features"][0]
    assert {"distance", "method", "threshold", "drifted", "p_value"} <= set(row)
    assert row["method"] == "calibrated" and row["threshold"] == 0.05


def test_baseline_from_another_schema_is_bad_input(baseline, tmp_path, capsys):
    other = _csv(tmp_path / "other.csv", 100, 3, cols=("p", "q"))
    text = other.read_text().replace(",seg,", ",kind,")
    other.write_text(text)
    out = tmp_path / "out"
    assert main(["check", "--baseline", str(baseline), "--data", str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "other.csv" in err and "another schema" in err and "Traceback" not in err
    assert not out.exists()


def test_empty_file_and_header_only_are_bad_input(baseline, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["check", "--baseline", str(baseline), "--data", str(empty), "--out",
                 str(tmp_path / "o")]) == 2
    assert "empty.csv: the file is empty" in capsys.readouterr().err
    header = tmp_path / "header.csv"
    header.write_text("a,b,seg,label\n")
    assert main(["check", "--baseline", str(baseline), "--data", str(header), "--out",
                 str(tmp_path / "o")]) == 2
    assert "no rows to check" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_ragged_csv_names_the_line(baseline, tmp_path, capsys):
    bad = _csv(tmp_path / "bad.csv", 50, 4)
    lines = bad.read_text().splitlines()
    lines[30] = "1.0,2.0"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["check", "--baseline", str(baseline), "--data", str(bad)]) == 2
    assert "bad.csv: line 31 has 2 fields but the header has 4" in capsys.readouterr().err


def test_missing_baseline_folder_is_bad_input(tmp_path, capsys):
    assert main(["check", "--baseline", str(tmp_path / "nope"), "--data",
                 str(_csv(tmp_path / "d.csv", 10, 5))]) == 2
    assert "the baseline" in capsys.readouterr().err


def test_drift_html_escapes_names_and_draws_drifted_features_only() -> None:
    from trainguard.pipelines.report.drift import render_drift_report

    row = {"name": "<script>x</script>", "inferred_type": "String", "method": "calibrated",
           "distance": 0.3, "threshold": 0.05, "p_value": 1e-9, "drifted": True,
           "bins": ["a", "<b>"], "baseline_shares": [0.9, 0.1], "current_shares": [0.5, 0.5]}
    quiet = {**row, "name": "quiet", "drifted": False}
    page = render_drift_report({"features": [row, quiet], "violations": [], "rows": 10,
                                "method": "calibrated", "data": "d.csv", "baseline": "b"})
    assert "<script>x" not in page and "&lt;script&gt;x" in page and "&lt;b&gt;" in page
    assert page.count("<svg") == 1  # one chart: the drifted feature's
