"""Tests of the server-side session store: isolation, expiry, caps.

The store's behaviour is tested on both backends (``make_store`` and ``store`` are
parametrized "disk" and "redis" in this module only; other modules keep the disk
store of conftest.py), then what only Redis does: several instances, processes,
a server that goes away, its memory cap.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pytest
import redis
from redis_fixture import RedisServer

from app import services
from app.config import Settings
from app.ml import TrainConfig
from app.server.store import (
    DiskBackend,
    QuotaExceeded,
    RedisBackend,
    SessionExpired,
    SessionStore,
    StoreUnavailable,
    Superseded,
    UnsafeCacheDirectory,
    new_session_id,
    valid_run_id,
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
    run_id = store.add_run(a, {"report": 1}, pipeline="model-a").run_id
    assert store.dataset(a)["name"] == "A"
    with pytest.raises(SessionExpired):
        store.dataset(b)
    assert store.runs(b) == []
    with pytest.raises(SessionExpired):
        store.run(b, run_id)
    with pytest.raises(SessionExpired):
        store.model(b, run_id)
    assert store.model(a, run_id) == "model-a"


def test_runs_are_numbered_and_old_runs_are_dropped(make_store):
    store = make_store(max_runs_per_session=3)
    sid = new_session_id()
    added = [store.add_run(sid, {"n": i}, f"model-{i}") for i in range(5)]
    assert [a.number for a in added] == [1, 2, 3, 4, 5]
    assert all(valid_run_id(a.run_id) for a in added)
    assert len({a.run_id for a in added}) == 5
    assert [(r, report) for r, report in store.runs(sid)] == [
        (a.run_id, {"n": i, "number": i + 1}) for i, a in enumerate(added) if i >= 2
    ]
    assert [a.notice for a in added] == ["", "", ""] + [
        f"Run {n} was removed to keep this session's 3 newest runs." for n in (1, 2)
    ]
    assert store.backend.get(f"model:{sid}:{added[0].run_id}") is None  # deleted
    with pytest.raises(SessionExpired, match="This run is no longer available"):
        store.model(sid, added[0].run_id)


def test_idle_sessions_expire(make_store):
    store = make_store(session_ttl_hours=1 / 3600, store_url="off")
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
        added = list(pool.map(lambda i: store.add_run(sid, {"i": i}, None), range(24)))
    assert sorted(a.number for a in added) == list(range(1, 25))
    assert len({a.run_id for a in added}) == 24
    assert {r for r, _ in store.runs(sid)} == {a.run_id for a in added}


# -- quotas, unique run ids, eviction ----------------------------------------------

REGRESSION = {"n_samples": 5_000, "n_features": 10}
FEATURES = tuple(f"x{i}" for i in range(1, 11))


def _train(store: SessionStore, sid: str, model: str, task: str = "regression"):
    features = FEATURES if task == "regression" else tuple(IRIS_FEATURES)
    config = TrainConfig(
        target="target", features=features, task=task, model=model, cv_folds=0
    )
    return services.train(store, sid, config)


IRIS_FEATURES = [
    "sepal_length_cm",
    "sepal_width_cm",
    "petal_length_cm",
    "petal_width_cm",
]


def test_one_session_flooding_the_cache_loses_only_its_own_oldest_data(make_store):
    """The attack, scaled down: 16 distinct datasets of 0.4 MB into a 4 MB cache."""
    store = make_store(cache_size_mb=4, session_quota_mb=1)
    visitor, abuser = new_session_id(), new_session_id()
    services.load_dataset(store, visitor, "iris", {})
    run_id, _ = _train(store, visitor, "logistic_regression", "classification")
    meta, frame = store.dataset_frame(visitor)
    expected = store.model(visitor, run_id).predict(frame[IRIS_FEATURES])

    first = services.load_dataset(store, abuser, "regression", REGRESSION)
    first_run, _ = _train(store, abuser, "ridge")
    notes = []
    for seed in range(1, 16):
        params = {**REGRESSION, "random_state": seed}
        notes += services.load_dataset(store, abuser, "regression", params)["notes"]

    # The other visitor's data, run and model survive, and are theirs.
    meta_after, frame_after = store.dataset_frame(visitor)
    assert meta_after == meta
    pd.testing.assert_frame_equal(frame_after, frame)
    assert store.run(visitor, run_id)["model_label"] == "Logistic regression"
    other = make_store(cache_size_mb=4, session_quota_mb=1)  # no model LRU
    predicted = other.model(visitor, run_id).predict(frame[IRIS_FEATURES])
    np.testing.assert_array_equal(predicted, expected)
    assert services.explanation(store, visitor, run_id, "native")["native"]
    if isinstance(store.backend, DiskBackend):
        assert store.backend.cache.volume() < 4 * 1024 * 1024

    # The abuser keeps their newest data only, within the quota, and is told.
    assert notes[0] == (
        "Run 1 and the earlier dataset Synthetic: regression were removed to stay "
        "within this session's 1 MB of storage."
    )
    assert all("earlier dataset" in note for note in notes[1:]) and len(notes) == 14
    assert store.usage(abuser) <= 1024 * 1024
    assert store.dataset(abuser)["source"]["params"]["random_state"] == 15
    assert store.run_ids(abuser) == []
    assert not store.has_frame(first["frame"])  # deleted, not left to be evicted
    with pytest.raises(SessionExpired, match="This run is no longer available"):
        store.model(abuser, first_run)


def _forget(store: SessionStore, key: str) -> None:
    """Drop a key underneath the store, as the cache's eviction would."""
    if isinstance(store.backend, DiskBackend):
        store.backend.cache.delete(key)
    else:
        store.backend.client.delete(NAMESPACE + key)


def test_a_lost_session_record_never_gets_an_old_runs_model_or_explanation(
    make_store,
):
    store = make_store(store_url="off")  # only the cache (test_durable.py: both)
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    old, _ = _train(store, sid, "logistic_regression", "classification")
    assert services.explanation(store, sid, old, "native")["native"]
    assert type(store.model(sid, old)[-1]).__name__ == "LogisticRegression"

    _forget(store, f"session:{sid}")  # evicted: the session starts again
    services.load_dataset(store, sid, "iris", {})
    new, report = _train(store, sid, "knn", "classification")
    assert new != old and report["number"] == 1  # the visitor sees "Run 1" again
    assert type(store.model(sid, new)[-1]).__name__ == "KNeighborsClassifier"
    assert services.explanation(store, sid, new, "native")["native"] is None
    with pytest.raises(SessionExpired, match="This run is no longer available"):
        store.model(sid, old)
    assert [r for r, _ in store.runs(sid)] == [new]


def test_items_evicted_underneath_a_session_are_reported_as_gone(make_store, iris):
    store = make_store(store_url="off")
    sid = new_session_id()
    store.set_dataset(sid, {"name": "iris", "frame": store.put_frame(iris)})
    first = store.add_run(sid, {"score": 1}, "model-1").run_id
    second = store.add_run(sid, {"score": 2}, "model-2").run_id
    _forget(store, f"run:{sid}:{first}")
    _forget(store, f"model:{sid}:{second}")
    _forget(store, store.dataset(sid)["frame"])
    assert store.runs(sid) == [(second, {"score": 2, "number": 2})]
    with pytest.raises(SessionExpired, match="^Run 1 is no longer available"):
        store.run(sid, first)
    with pytest.raises(SessionExpired, match="^Run 2 is no longer available"):
        store.model(sid, second)
    with pytest.raises(SessionExpired, match="has expired; load it again"):
        store.dataset_frame(sid)
    store.remove_runs(sid, [first, second])  # and forgetting them works
    assert store.runs(sid) == [] and store.usage(sid) < 100_000


def test_an_item_larger_than_the_quota_is_refused_with_a_sentence(make_store):
    store = make_store(session_quota_mb=1)
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    big = {"n_samples": 20_000, "n_features": 20}
    with pytest.raises(
        QuotaExceeded,
        match=r"^This dataset needs 3\.\d MB of storage, more than this session's "
        r"1 MB\. Load fewer rows or columns\.$",
    ):
        services.load_dataset(store, sid, "regression", big)
    assert store.dataset(sid)["name"] == "Iris flowers"  # kept, unchanged
    assert isinstance(QuotaExceeded("x"), SessionExpired)  # what callbacks show

    with pytest.raises(QuotaExceeded, match="^This run .* needs 2.0 MB of storage"):
        store.add_run(sid, {}, os.urandom(2 * 1024 * 1024))
    assert store.run_ids(sid) == []

    half = {"n_samples": 3_000, "n_features": 20}  # 0.5 MB, and a 0.6 MB model
    services.load_dataset(store, sid, "regression", half)
    with pytest.raises(QuotaExceeded, match=r"with the data in use \(0\.5 MB\)"):
        store.add_run(sid, {"data": store.dataset(sid)}, os.urandom(600_000))
    if isinstance(store.backend, DiskBackend):  # the refused items are deleted
        files = [f for _, _, names in os.walk(store.backend.directory) for f in names]
        assert len([f for f in files if f.endswith(".val")]) == 1  # the 0.5 MB frame


def test_of_two_loads_the_later_asked_for_stays_whichever_ends_last(store):
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    first = store.begin_load(sid)  # asked for first, but slow
    services.load_dataset(store, sid, "wine", {})  # asked for later, ends first
    big = {"n_samples": 3_000, "n_features": 20}
    with pytest.raises(Superseded):
        services.load_dataset(store, sid, "regression", big, ticket=first)
    assert store.dataset(sid)["name"] == "Wine cultivars"
    held = store.session(sid)["held"].values()
    assert {e["name"] for e in held} == {"Iris flowers", "Wine cultivars"}
    again = store.begin_load(sid)  # the same load run twice (a retried job) stays
    services.load_dataset(store, sid, "regression", big, ticket=again)
    services.load_dataset(store, sid, "regression", big, ticket=again)
    assert store.dataset(sid)["rows"] == 3_000


def test_explanations_count_but_never_push_runs_out(make_store):
    store = make_store(session_quota_mb=1)
    sid = new_session_id()
    run_id = store.add_run(sid, {}, None).run_id
    assert store.keep_explanation(sid, run_id, "small", {"a": 1})
    assert store.explanation(sid, run_id, "small") == {"a": 1}
    assert not store.keep_explanation(sid, run_id, "big", os.urandom(1024 * 1024))
    assert store.explanation(sid, run_id, "big") is None
    assert store.run_ids(sid) == [run_id]
    assert not store.keep_explanation(sid, "not-a-run-id", "x", 1)


def test_a_frame_shared_by_two_sessions_stays_until_both_let_go(make_store, iris):
    store = make_store()
    one, two = new_session_id(), new_session_id()
    key = store.save_frame(iris, holder=one)[0]
    store.set_dataset(one, {"name": "iris", "frame": key})
    assert store.has_frame(key, holder=two)
    store.set_dataset(two, {"name": "iris", "frame": key})
    other = store.put_frame(iris.head(10))
    store.set_dataset(one, {"name": "head", "frame": other})
    store.set_dataset(two, {"name": "head", "frame": other})
    store._discard(one, [{"kind": "data", "keys": [key]}])
    assert store.has_frame(key)  # still held by two
    store._discard(two, [{"kind": "data", "keys": [key]}])
    assert not store.has_frame(key)


def test_a_least_recently_read_item_is_evicted_first(tmp_path):
    store = SessionStore.from_settings(
        Settings(cache_dir=str(tmp_path), cache_size_mb=1)
    )
    store.remember("visitor", os.urandom(40_000))
    for i in range(100):  # 4 MB through a 1 MB cache, while the visitor works
        store.remember(f"flood:{i}", os.urandom(40_000))
        assert store.recall("visitor") is not None
    assert store.recall("flood:0") is None


def _use_disk_store(store: SessionStore, sid: str, worker: int, out: Any) -> None:
    try:
        for i in range(100):
            run_id = store.add_run(sid, {"worker": worker, "i": i}, "m" * 1000).run_id
            for _ in range(10):  # every read writes its access time (LRU)
                assert store.run(sid, run_id)["i"] == i
                assert store.model(sid, run_id) == "m" * 1000
        out.put(None)
    except BaseException as exc:  # pragma: no cover - reported below
        out.put(repr(exc))


def test_processes_sharing_the_disk_cache_keep_sqlites_locks(tmp_path):
    """Opened by each process after a fork, the cache never breaks SQLite's locks.

    (Opening and closing a database file beside a connection drops its POSIX
    locks: other processes then crashed with SIGBUS or "locking protocol".)
    """
    store = SessionStore.from_settings(Settings(cache_dir=str(tmp_path / "c")))
    sids = [new_session_id() for _ in range(4)]
    store.set_dataset(sids[0], {"name": "A"})  # opened before the fork
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [
        context.Process(target=_use_disk_store, args=(store, sid, w, out))
        for w, sid in enumerate(sids)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]  # not -7 (SIGBUS)
    assert [out.get(timeout=5) for _ in workers] == [None] * 4
    assert len(store.runs(sids[3])) == 50  # max_runs_per_session


# -- private storage ---------------------------------------------------------------


def _modes(directory: Path) -> dict[str, int]:
    found = {str(directory): stat.S_IMODE(directory.lstat().st_mode)}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            found[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_the_cache_directory_and_its_files_are_private(tmp_path, iris, umask):
    directory = tmp_path / "cache"
    before = os.umask(umask)
    try:
        store = SessionStore.from_settings(Settings(cache_dir=str(directory)))
        sid = new_session_id()
        store.set_dataset(sid, {"name": "iris", "frame": store.put_frame(iris)})
        store.add_run(sid, {"report": "x" * 100_000}, os.urandom(200_000))
        store.remember("profile:x", {"large": list(range(50_000))})
        store.shared_secret()
    finally:
        os.umask(before)
    modes = _modes(directory)
    assert any(p.endswith(".val") for p in modes) and any("secret" in p for p in modes)
    assert any(p.endswith("cache.db-wal") for p in modes)
    for path, mode in modes.items():
        expected = 0o700 if os.path.isdir(path) else 0o600
        assert mode == expected, (path, oct(mode))


def test_an_existing_cache_directory_of_this_user_is_made_private(tmp_path):
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    (directory / "secret-key").write_text("kept")
    os.chmod(directory / "secret-key", 0o644)
    store = SessionStore.from_settings(Settings(cache_dir=str(directory)))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert store.shared_secret() == "kept"
    assert stat.S_IMODE((directory / "secret-key").stat().st_mode) == 0o600


def test_a_cache_directory_that_is_a_link_or_another_users_is_refused(
    tmp_path, monkeypatch
):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "cache"
    link.symlink_to(target)
    with pytest.raises(UnsafeCacheDirectory, match="is a symbolic link"):
        SessionStore.from_settings(Settings(cache_dir=str(link)))
    (tmp_path / "file").write_text("")
    with pytest.raises(UnsafeCacheDirectory, match="is not a directory"):
        SessionStore.from_settings(Settings(cache_dir=str(tmp_path / "file")))

    os.chmod(target, 0o755)
    owner = target.stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)  # as if another user
    with pytest.raises(UnsafeCacheDirectory, match=r"belongs to another user \(uid"):
        SessionStore.from_settings(Settings(cache_dir=str(target)))
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # left alone
    assert os.listdir(target) == []


# -- Redis only -------------------------------------------------------------------


def _redis_store(url: str, **overrides: Any) -> SessionStore:
    overrides.setdefault("store_url", "off")  # Redis alone, unless a test says
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
    run_id = one.add_run(sid, {"score": 0.9}, pipeline={"fitted": True}).run_id
    assert one.model(sid, run_id) == {"fitted": True}  # now in one's model LRU

    meta, frame = two.dataset_frame(sid, ["target"])
    assert meta["name"] == "iris"
    pd.testing.assert_frame_equal(frame, iris[["target"]])
    assert two.runs(sid) == [(run_id, {"score": 0.9, "number": 1})]
    assert two.model(sid, run_id) == {"fitted": True}
    second = two.add_run(sid, {"score": 0.8}, None)
    assert second.number == 2
    two.remove_runs(sid, [run_id])
    assert [r for r, _ in one.runs(sid)] == [second.run_id]
    with pytest.raises(SessionExpired, match="no longer available"):
        one.model(sid, run_id)  # removed by another instance: not served from LRU


def _add_runs(store: SessionStore, sid: str, worker: int, out: Any) -> None:
    for i in range(10):
        added = store.add_run(sid, {"worker": worker, "i": i}, f"model-{worker}-{i}")
        out.put((added.run_id, added.number))


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
    added = [out.get(timeout=60) for _ in range(40)]
    for worker in workers:
        worker.join(30)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert sorted(number for _, number in added) == list(range(1, 41))
    runs = _redis_store(redis_url).runs(sid)
    assert [r for r, _ in runs] == [r for r, _ in sorted(added, key=lambda a: a[1])]
    assert {(r["worker"], r["i"]) for _, r in runs} == {
        (w, i) for w in range(4) for i in range(10)
    }
    assert store.dataset(sid)["name"] == "A"


def test_a_stopped_redis_gives_a_message_not_a_traceback(tmp_path, caplog):
    with RedisServer(tmp_path) as server:
        store = _redis_store(server.url, store_url=str(tmp_path / "workspaces"))
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

        server.start()  # a restarted (emptied) Redis: the same store reconnects,
        # and reads the session back from the durable store
        assert store.session(sid)["dataset"]["name"] == "A"
        assert store.add_run(sid, {}, None).number == 1
        store.backend.close()


def test_every_key_expires_and_no_lock_is_left(redis_url, iris):
    store = _redis_store(redis_url, session_ttl_hours=1)
    sid = new_session_id()
    store.set_dataset(sid, {"name": "iris", "frame": store.put_frame(iris)})
    store.add_run(sid, {}, None)
    store.remember("profile:x", {"a": 1})
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(NAMESPACE + "*"))
        assert len(keys) == 6  # session, frame and its holders, run, model, profile
        assert not [k for k in keys if k.startswith(b"dashboard:lock:")]
        assert all(0 < client.ttl(k) <= 3600 for k in keys)  # volatile-lru can evict


def test_a_fitted_pipeline_round_trips(redis_url, iris, iris_run):
    _, run = iris_run
    sid = new_session_id()
    run_id = _redis_store(redis_url).add_run(sid, run.report, run.pipeline).run_id
    other = _redis_store(redis_url)  # another instance: nothing in its model LRU
    model = other.model(sid, run_id)
    assert model is not run.pipeline
    features = iris.drop(columns="target")
    np.testing.assert_array_equal(
        model.predict(features), run.pipeline.predict(features)
    )
    assert other.run(sid, run_id).keys() == run.report.keys() | {"number"}


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


def test_a_session_keeps_one_waiting_upload_per_slot(store, sid):
    """Uploads wait for the job that reads them; a script posting many without
    reading them holds one per slot, not all of them (they would bypass the quota)."""
    tokens = [store.stage(sid, "data", bytes([n]) * 1000, 60) for n in range(30)]
    assert all(store.unstage(sid, "data", t) is None for t in tokens[:-1])
    assert store.unstage(sid, "data", tokens[-1]) == bytes([29]) * 1000
    assert store.unstage(sid, "data", tokens[-1]) == bytes([29]) * 1000  # a retry
    rows = store.stage(sid, "predict", b"rows", 60)
    assert store.unstage(sid, "predict", rows) == b"rows"
    assert store.unstage(sid, "data", rows) is None
    assert store.unstage(new_session_id(), "data", tokens[-1]) is None
    with pytest.raises(ValueError):
        store.stage(sid, "../x", b"", 60)


READ_A_FRAME = """
import sys, numpy as np, pandas as pd, psutil
from app.config import Settings
from app.server.store import SessionStore
store = SessionStore.from_settings(Settings(cache_dir=sys.argv[1], memory_mb=16384))
frame = pd.DataFrame(np.random.default_rng(0).random((500_000, 20)))
frame.columns = [f"x{i}" for i in range(20)]
key = store.put_frame(frame)
del frame
before = psutil.Process().memory_info().rss
frame = store.get_frame(key)
grown = psutil.Process().memory_info().rss - before
print(grown / frame.memory_usage().sum())
"""


def test_reading_a_frame_leaves_no_decoding_buffers_behind(tmp_path):
    # Arrow's allocator keeps what Parquet decoding used (about three times the
    # frame) unless it is asked to give it back: a web worker or a job would
    # hold it for good.
    project = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", READ_A_FRAME, str(tmp_path / "cache")],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert float(out.stdout) < 2.0  # the frame itself, and a little
