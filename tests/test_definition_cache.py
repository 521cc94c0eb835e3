"""A repeat local run with the same config and code reads its definition and skips the SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from trainguard.pipelines.local import definition_cache
from trainguard.training.config import load_config

FAST = {"tuning.max_jobs": 1, "cv.folds": 2, "xgboost.num_round": 20, "xgboost.nthread": 1}

RUN = """
import json, sys
from trainguard.pipelines.local.run import run_local
result = run_local(overrides={overrides}, workdir={workdir!r}, registry={registry!r})
print(json.dumps({{"status": result.status, "sdk": "sagemaker" in sys.modules}}))
"""


def _run(tmp_path: Path, overrides: dict) -> dict:
    code = RUN.format(overrides=overrides, workdir=str(tmp_path / "w"), registry=str(tmp_path / "r.db"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_run_reads_the_cached_definition_without_importing_the_sdk(tmp_path: Path) -> None:
    first = _run(tmp_path, FAST)
    text = (tmp_path / "w" / "definition.json").read_bytes()
    second = _run(tmp_path, FAST)
    assert first["sdk"] is True and second["sdk"] is False
    assert first["status"] == second["status"]
    assert (tmp_path / "w" / "definition.json").read_bytes() == text
    cached = list((tmp_path / "w" / "cache" / ".definitions").glob("definition-*.json"))
    assert len(cached) == 1 and cached[0].read_bytes() == text


def test_key_follows_config_code_and_sdk_version(monkeypatch, tmp_path: Path) -> None:
    cfg = load_config(overrides=FAST)
    key = definition_cache.definition_key(cfg)
    assert definition_cache.definition_key(load_config(overrides=FAST)) == key
    assert definition_cache.definition_key(cfg.replace(**{"approval.min_auc": 0.8})) != key

    builder = tmp_path / "steps" / "extra.py"
    builder.parent.mkdir()
    builder.write_text("X = 1\n")
    monkeypatch.setattr(definition_cache, "_PACKAGE_ROOT", tmp_path)
    monkeypatch.setattr(definition_cache, "_builder_sources", lambda: [builder])
    before = definition_cache.definition_key(cfg)
    builder.write_text("X = 2\n")
    assert definition_cache.definition_key(cfg) != before

    real_version = definition_cache.importlib.metadata.version
    monkeypatch.setattr(definition_cache.importlib.metadata, "version",
                        lambda dist: "9.9" if dist == "sagemaker" else real_version(dist))
    assert definition_cache.definition_key(cfg) != before


def test_store_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = definition_cache.store(tmp_path / "defs", "abc", '{"Steps": []}')
    assert path.read_text() == '{"Steps": []}'
    assert [p.name for p in (tmp_path / "defs").iterdir()] == ["definition-abc.json"]


def test_a_truncated_or_damaged_cached_definition_is_a_miss(tmp_path: Path, monkeypatch) -> None:
    import types

    built = '{"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Fail"}]}'
    fake = types.ModuleType("trainguard.pipelines.build")  # the real builder imports the SDK (slow)
    fake.definition_json = lambda cfg: built  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trainguard.pipelines.build", fake)
    cfg = load_config(None, FAST)
    key = definition_cache.definition_key(cfg)
    path = tmp_path / f"definition-{key}.json"
    for damaged in (built[:20].encode(), b"", b"\xff\xfe{", b'{"Steps": 3}', b"[1, 2]"):
        path.write_bytes(damaged)
        assert definition_cache.load_or_build(cfg, tmp_path) == (built, key, False)
    definition_cache.store(tmp_path, key, built)
    assert definition_cache.load_or_build(cfg, tmp_path) == (built, key, True)


def test_a_truncated_or_malformed_step_cache_entry_is_a_miss(tmp_path: Path) -> None:
    from trainguard.pipelines.local.cache import StepCache
    from trainguard.pipelines.local.store import LocalStore

    cache = StepCache(tmp_path / "cache", LocalStore(tmp_path / "s3"))
    cache.save("Step", "k1", {"properties": {"A": 1}, "property_files": {}}, [])
    whole = cache._file("Step", "k1").read_text()
    assert cache.lookup("Step", "k1", "P30D")["properties"] == {"A": 1}
    for damaged in (whole[: len(whole) // 2], "", "[]", '{"created": "soon", "outputs": {}}',
                    '{"created": 1e18, "outputs": [], "properties": {}, "property_files": {}}',
                    '{"created": 1e18, "outputs": {}, "property_files": {}}'):
        cache._file("Step", "k1").write_text(damaged)
        assert cache.lookup("Step", "k1", "P30D") is None, damaged
