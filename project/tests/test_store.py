"""Tests of the server-side session store: isolation, expiry, caps.

The store's behaviour is tested on both backends (``make_store`` and ``store`` are
parametrized "disk" and "redis" in this module only; other modules keep the disk
store of conftest.py), then what only Redis does: several instances, processes,
a server that goes away, its memory cap.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pytest
import redis
from redis_fixture import RedisServer

from app.config import Settings
from app.store import (
    DiskBackend,
    RedisBackend,
    SessionExpired,
    SessionStore,
    StoreUnavailable,
    new_session_id,
    valid_session_id,
)

NAMESPACE = "dashboard:"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """One redis-server for the test session (64 MB, allkeys-lru, no persistence)."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server) -> Iterator[str]:
    """The URL of the session's Redis, emptied for this test."""
    client = redis_server.client()
    client.flushdb()
    client.close()
    yield redis_server.url


@pytest.fixture(params=["disk", "redis"])
def make_store(request, tmp_path) -> Iterator[Callable[..., SessionStore]]:
    """Build stores on one backend from settings overrides (all share the data)."""
    base: dict[str, Any] = {"cache_dir": str(tmp_path / "cache")}
    if request.param == "redis":
        base["redis_url"] = request.getfixturevalue("redis_url")
    made: list[SessionStore] = []

    def make(**overrides: Any) -> SessionStore:
        made.append(SessionStore.from_settings(Settings(**{**base, **overrides})))
        return made[-1]

    yield make
    for store in made:
        store.backend.close()


@pytest.fixture
def store(make_store) -> SessionStore:
    """A fresh store on each backend (overrides conftest's, in this module only)."""
    return make_store()


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


def test_run_ids_count_up_and_old_runs_are_dropped(make_store):
    store = make_store(max_runs_per_session=3)
    sid = new_session_id()
    ids = [store.add_run(sid, {"n": i}, None) for i in range(5)]
    assert ids == ["1", "2", "3", "4", "5"]
    assert [r[0] for r in store.runs(sid)] == ["3", "4", "5"]


def test_idle_sessions_expire(make_store):
    store = make_store(session_ttl_hours=1 / 3600)
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


# -- Redis only -------------------------------------------------------------------


def _redis_store(url: str, **overrides: Any) -> SessionStore:
    return SessionStore.from_settings(Settings(redis_url=url, **overrides))


def _keys(url: str, pattern: str) -> list[bytes]:
    with redis.Redis.from_url(url) as client:
        return list(client.scan_iter(NAMESPACE + pattern))


def test_redis_url_selects_the_redis_backend(tmp_path):
    assert isinstance(
        _redis_store("redis://127.0.0.1:1/0").backend, RedisBackend
    )  # lazily connected: nothing is reached yet
    disk = SessionStore.from_settings(Settings(cache_dir=str(tmp_path)))
    assert isinstance(disk.backend, DiskBackend)


def test_two_instances_share_sessions_and_runs(redis_url, iris):
    one, two = _redis_store(redis_url), _redis_store(redis_url)
    sid = new_session_id()
    frame_key = one.put_frame(iris)
    one.set_dataset(sid, {"name": "iris", "frame": frame_key})
    run_id = one.add_run(sid, {"score": 0.9}, pipeline={"fitted": True})

    meta, frame = two.dataset_frame(sid, ["target"])
    assert meta["name"] == "iris"
    pd.testing.assert_frame_equal(frame, iris[["target"]])
    assert two.runs(sid) == [(run_id, {"score": 0.9})]
    assert two.model(sid, run_id) == {"fitted": True}
    assert two.add_run(sid, {"score": 0.8}, None) == "2"
    two.remove_runs(sid, [run_id])
    assert [r for r, _ in one.runs(sid)] == ["2"]


def _add_runs(store: SessionStore, sid: str, worker: int, out: Any) -> None:
    for i in range(10):
        out.put(store.add_run(sid, {"worker": worker, "i": i}, f"model-{worker}-{i}"))


def test_concurrent_runs_from_processes_are_all_kept(redis_url):
    """Gunicorn's pattern: a store used before the fork, then by forked workers."""
    store = _redis_store(redis_url)
    sid = new_session_id()
    store.set_dataset(sid, {"name": "A"})  # the parent's pool must not be reused
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [
        context.Process(target=_add_runs, args=(store, sid, w, out)) for w in range(4)
    ]
    for worker in workers:
        worker.start()
    ids = [out.get(timeout=60) for _ in range(40)]
    for worker in workers:
        worker.join(30)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert sorted(ids, key=int) == [str(i) for i in range(1, 41)]
    runs = _redis_store(redis_url).runs(sid)
    assert [r for r, _ in runs] == [str(i) for i in range(1, 41)]
    assert {(r["worker"], r["i"]) for _, r in runs} == {
        (w, i) for w in range(4) for i in range(10)
    }
    assert store.dataset(sid)["name"] == "A"


def test_a_stopped_redis_gives_a_message_not_a_traceback(tmp_path, caplog):
    with RedisServer(tmp_path) as server:
        store = _redis_store(server.url)
        sid = new_session_id()
        store.set_dataset(sid, {"name": "A", "frame": store.put_frame(pd.DataFrame())})
        server.stop()
        started = time.monotonic()
        for action in [
            lambda: store.session(sid),
            lambda: store.set_dataset(sid, {"name": "B"}),
            lambda: store.add_run(sid, {}, None),
            lambda: store.put_frame(pd.DataFrame({"a": [1]})),
            lambda: store.get_frame("frame:abc"),
            lambda: store.recall("profile:abc"),
        ]:
            with pytest.raises(
                StoreUnavailable, match="not reachable right now"
            ) as info:
                action()
            assert isinstance(info.value, SessionExpired)  # what the callbacks catch
            assert not isinstance(info.value, redis.exceptions.RedisError)
        assert time.monotonic() - started < 30
        assert "session store: get session:* failed" in caplog.text
        assert sid not in caplog.text  # session ids are secrets

        server.start()  # a restarted (emptied) Redis: the same store reconnects
        assert store.session(sid) == {"dataset": None, "runs": [], "seq": 0}
        assert store.add_run(sid, {}, None) == "1"
        store.backend.close()


def test_every_key_expires_and_no_lock_is_left(redis_url, iris):
    store = _redis_store(redis_url, session_ttl_hours=1)
    sid = new_session_id()
    store.set_dataset(sid, {"name": "iris", "frame": store.put_frame(iris)})
    store.add_run(sid, {}, None)
    store.remember("profile:x", {"a": 1})
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(NAMESPACE + "*"))
        assert len(keys) == 5
        assert not [k for k in keys if k.startswith(b"dashboard:lock:")]
        assert all(0 < client.ttl(k) <= 3600 for k in keys)  # volatile-lru can evict


def test_a_fitted_pipeline_round_trips(redis_url, iris, iris_run):
    _, run = iris_run
    sid = new_session_id()
    run_id = _redis_store(redis_url).add_run(sid, run.report, run.pipeline)
    other = _redis_store(redis_url)  # another instance: nothing in its model LRU
    model = other.model(sid, run_id)
    assert model is not run.pipeline
    features = iris.drop(columns="target")
    np.testing.assert_array_equal(
        model.predict(features), run.pipeline.predict(features)
    )
    assert other.run(sid, run_id).keys() == run.report.keys()


def test_a_large_frame_is_stored_compressed_and_once(redis_url):
    rows = 1_000_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "x": rng.normal(size=rows).round(2),
            "count": rng.integers(0, 100, rows),
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
        }
    )
    raw = int(frame.memory_usage(deep=True).sum())
    store = _redis_store(redis_url)
    with redis.Redis.from_url(redis_url) as client:
        key = store.put_frame(frame)
        writes = client.info("commandstats")["cmdstat_set"]["calls"]
        assert store.put_frame(frame.copy()) == key
        assert client.info("commandstats")["cmdstat_set"]["calls"] == writes
        assert _keys(redis_url, "frame:*") == [(NAMESPACE + key).encode()]
        stored = client.strlen(NAMESPACE + key)
    assert stored < raw / 4, (stored, raw)
    pd.testing.assert_frame_equal(store.get_frame(key, ["colour"]), frame[["colour"]])


def test_a_content_key_is_never_rewritten(redis_url):
    backend = _redis_store(redis_url).backend
    backend.set("frame:abc", b"first", 60)
    backend.set("frame:abc", b"second", 120)
    assert backend.open("frame:abc").read() == b"first"
    assert 60 < redis.Redis.from_url(redis_url).ttl(NAMESPACE + "frame:abc") <= 120
    backend.set("profile:abc", {"v": 1}, 60)
    backend.set("profile:abc", {"v": 2}, 60)  # other keys are overwritten
    assert backend.get("profile:abc") == {"v": 2}


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru"])
def test_a_full_redis_evicts_instead_of_failing(tmp_path, policy):
    with RedisServer(tmp_path, maxmemory="4mb", policy=policy) as server:
        store = _redis_store(server.url)
        blob = 256 * 1024
        for i in range(40):  # 10 MB into 4 MB
            store.remember(f"blob:{i}", os.urandom(blob))
        assert store.recall("blob:39") is not None
        assert store.recall("blob:0") is None
        with server.client() as client:
            assert client.info("memory")["used_memory"] < 4 * 1024 * 1024 + 2 * blob
            assert client.info("stats")["evicted_keys"] > 0
        store.backend.close()


def test_a_full_redis_that_evicts_nothing_gives_a_message(tmp_path, caplog):
    with RedisServer(tmp_path, maxmemory="2mb", policy="noeviction") as server:
        store = _redis_store(server.url)
        with pytest.raises(StoreUnavailable, match="try again"):
            for i in range(40):
                store.remember(f"blob:{i}", os.urandom(256 * 1024))
        assert "maxmemory-policy" in caplog.text
        store.backend.close()


def test_the_shared_secret_is_made_once_and_read_by_every_store(make_store):
    first = make_store()
    second = make_store()
    secret = first.shared_secret()
    assert len(secret) >= 40
    assert second.shared_secret() == secret == first.shared_secret()
