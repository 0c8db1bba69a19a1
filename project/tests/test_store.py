"""Tests of the server-side session store: isolation, expiry, caps."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from app.config import Settings
from app.store import SessionExpired, SessionStore, new_session_id, valid_session_id


def test_session_ids_are_random_and_validated():
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(valid_session_id(i) for i in ids)
    for bad in ["", "short", "../../etc/passwd" * 3, None, 42, "a" * 65, "x y" * 10]:
        assert not valid_session_id(bad)


def test_a_malformed_session_id_is_refused(store):
    with pytest.raises(SessionExpired, match="not valid"):
        store.session("../other")


def test_frames_are_stored_once_per_content(store):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    key1 = store.put_frame(frame)
    key2 = store.put_frame(frame.copy())
    assert key1 == key2 and key1.startswith("frame:")
    pd.testing.assert_frame_equal(store.get_frame(key1), frame)
    assert list(store.get_frame(key1, ["b"]).columns) == ["b"]


def test_sessions_do_not_see_each_other(store):
    a, b = new_session_id(), new_session_id()
    store.set_dataset(a, {"name": "A", "frame": "frame:x"})
    run_id = store.add_run(a, {"report": 1}, pipeline="model-a")
    assert store.dataset(a)["name"] == "A"
    with pytest.raises(SessionExpired):
        store.dataset(b)
    assert store.runs(b) == []
    with pytest.raises(SessionExpired):
        store.run(b, run_id)
    with pytest.raises(SessionExpired):
        store.model(b, run_id)
    assert store.model(a, run_id) == "model-a"


def test_run_ids_count_up_and_old_runs_are_dropped(tmp_path):
    store = SessionStore.from_settings(
        Settings(cache_dir=str(tmp_path), max_runs_per_session=3)
    )
    sid = new_session_id()
    ids = [store.add_run(sid, {"n": i}, None) for i in range(5)]
    assert ids == ["1", "2", "3", "4", "5"]
    assert [r[0] for r in store.runs(sid)] == ["3", "4", "5"]


def test_idle_sessions_expire(tmp_path):
    store = SessionStore.from_settings(
        Settings(cache_dir=str(tmp_path), session_ttl_hours=1 / 3600)
    )
    sid = new_session_id()
    store.set_dataset(sid, {"name": "A"})
    assert store.dataset(sid)["name"] == "A"
    time.sleep(1.2)
    with pytest.raises(SessionExpired):
        store.dataset(sid)


def test_the_cache_stays_under_its_size_cap(tmp_path):
    store = SessionStore.from_settings(
        Settings(cache_dir=str(tmp_path), cache_size_mb=1)
    )
    for i in range(40):
        store.remember(f"blob:{i}", bytes([i % 256]) * 100_000)
    volume = store.backend.cache.volume()
    assert volume < 2 * 1024 * 1024
    assert store.recall("blob:39") is not None
    assert store.recall("blob:0") is None


def test_concurrent_runs_get_distinct_ids(store):
    from concurrent.futures import ThreadPoolExecutor

    sid = new_session_id()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: store.add_run(sid, {"i": i}, None), range(24)))
    assert sorted(ids, key=int) == [str(i) for i in range(1, 25)]
