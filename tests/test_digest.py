"""The in-process memos' content keys: a file's and a buffer's digest agree, and any change of
the bytes (either half, their order, their length) changes the key."""

from __future__ import annotations

import numpy as np
import pytest
from trainguard.training import digest
from trainguard.training.digest import buffer_digest, file_digest


@pytest.fixture(params=["one thread", "two halves in blocks"])
def mode(request, monkeypatch):
    if request.param != "one thread":  # small sizes take the threaded, blockwise path
        monkeypatch.setattr(digest, "_TWO_HALVES", 16)
        monkeypatch.setattr(digest, "_BLOCK", 7)
    return request.param


@pytest.mark.parametrize("size", [0, 1, 2, 33, 1000])
def test_file_and_buffer_digests_agree(tmp_path, mode, size):
    data = np.random.default_rng(size).bytes(size)
    f = tmp_path / "d.bin"
    f.write_bytes(data)
    assert file_digest(f) == buffer_digest(data) == buffer_digest(memoryview(data))
    assert len(buffer_digest(data)) == 32


def test_any_change_of_the_bytes_changes_the_key(tmp_path, mode):
    data = bytearray(np.random.default_rng(1).bytes(400))
    base = buffer_digest(bytes(data))
    changed = []
    for i in (0, 199, 200, 399):  # both halves, at their edges
        d = bytearray(data)
        d[i] ^= 1
        changed.append(buffer_digest(bytes(d)))
    swapped = buffer_digest(bytes(data[200:] + data[:200]))
    longer = buffer_digest(bytes(data) + b"\0")
    assert len({base, *changed, swapped, longer}) == 7
    f = tmp_path / "d.bin"
    f.write_bytes(bytes(data[:399]) + b"x")
    assert file_digest(f) != base


def test_an_array_is_keyed_by_its_bytes():
    a = np.arange(12, dtype=np.float64)
    assert buffer_digest(memoryview(a).cast("B")) == buffer_digest(a.tobytes())
    b = a.copy()
    b[11] = -0.0 + 11.000000000000002
    assert buffer_digest(memoryview(b).cast("B")) != buffer_digest(a.tobytes())
    m = a.reshape(3, 4)  # a matrix's view is cast to bytes in row order
    assert buffer_digest(memoryview(m)) == buffer_digest(a.tobytes())
