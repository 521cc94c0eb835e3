"""The local object store (s3:// URIs in a folder) and the step cache built on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainguard.pipelines.local.cache import StepCache, cache_key, parse_duration
from trainguard.pipelines.local.errors import DefinitionError
from trainguard.pipelines.local.store import LocalStore
from trainguard.training.errors import DataError


def test_uris_map_to_folders_and_bad_uris_are_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert store.path("s3://bucket/a/b.csv") == tmp_path / "bucket" / "a" / "b.csv"
    with pytest.raises(DataError, match="not an s3:// URI"):
        store.path("/etc/passwd")
    with pytest.raises(DataError, match=r"'\.'/'\.\.' segments"):
        store.path("s3://bucket/../../x")


def test_upload_download_and_prefix_semantics(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s3")
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("1")
    (src / "sub" / "b.csv").write_text("2")
    assert store.upload_dir(src, "s3://b/prefix") == 2
    assert [rel for rel, _ in store.objects("s3://b/prefix")] == ["a.csv", "sub/b.csv"]
    dest = tmp_path / "in"
    assert store.download("s3://b/prefix/a.csv", dest) == 1  # an object URI gives the object
    assert (dest / "a.csv").read_text() == "1"
    assert store.download("s3://b/missing", tmp_path / "none") == 0
    assert not store.exists("s3://b/missing")


def test_digest_changes_with_content_and_uploads_do_not_touch_linked_downloads(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s3")
    f = tmp_path / "f.csv"
    f.write_text("x")
    store.upload_file(f, "s3://b/k/f.csv")
    d1 = store.digest("s3://b/k")
    store.download("s3://b/k", tmp_path / "job")  # hard link into a job folder
    f.write_text("y")
    store.upload_file(f, "s3://b/k/f.csv")
    assert store.digest("s3://b/k") != d1
    assert (tmp_path / "job" / "f.csv").read_text() == "x"
    assert store.digest("s3://b/none") == ""


def test_parse_duration() -> None:
    assert parse_duration("P30D") == 30 * 86400
    assert parse_duration("PT1H30M") == 5400
    assert parse_duration("P1W") == 7 * 86400
    for bad in ("30D", "P", "PT", "P1DT", "", "P1.5D"):
        with pytest.raises(DefinitionError, match="not an ISO 8601 duration"):
            parse_duration(bad)


def test_cache_hits_only_fresh_entries_with_intact_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path / "s3")
    out = tmp_path / "o.json"
    out.write_text("{}")
    store.upload_file(out, "s3://b/out/o.json")
    cache = StepCache(tmp_path / "cache", store)
    key = cache_key("Processing", {"a": 1}, {"s3://b/in": "abc"})
    assert key != cache_key("Processing", {"a": 2}, {"s3://b/in": "abc"})
    assert key != cache_key("Processing", {"a": 1}, {"s3://b/in": "abd"})
    assert cache.lookup("S", key, "P1D") is None
    cache.save("S", key, {"properties": {"p": 1}, "property_files": {}}, ["s3://b/out"])  # as the runner saves
    entry = cache.lookup("S", key, "P1D")
    assert entry is not None and entry["properties"] == {"p": 1}
    assert json.loads((tmp_path / "cache" / "S" / f"{key}.json").read_text())["outputs"]
    # expired
    import trainguard.pipelines.local.cache as cache_mod

    real = cache_mod.time.time
    monkeypatch.setattr(cache_mod.time, "time", lambda: real() + 2 * 86400)
    assert cache.lookup("S", key, "P1D") is None
    monkeypatch.undo()
    # an output changed under the entry: no reuse
    out.write_text('{"tampered": true}')
    store.upload_file(out, "s3://b/out/o.json")
    assert cache.lookup("S", key, "P1D") is None


def test_read_json_names_missing_and_malformed_objects(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "ok.json").write_text('{"a": 1}')
    (tmp_path / "b" / "bad.json").write_text("{nope")
    assert store.read_json("s3://b/ok.json") == {"a": 1}
    with pytest.raises(DataError, match=r"s3://b/none\.json does not exist"):
        store.read_json("s3://b/none.json")
    with pytest.raises(DataError, match=r"s3://b/bad\.json is not a readable JSON document"):
        store.read_json("s3://b/bad.json")
