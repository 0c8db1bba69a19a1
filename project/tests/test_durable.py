"""Tests of the durable workspaces (``STORE_URL``): what a session made comes
back whole when the instance's cache is lost, nothing is left once forgotten,
names carry no ids, files are private, old objects are swept, and a failing
store never fails the visitor's request."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
from gcs_fixture import BUCKET, gcs_emulator  # noqa: F401 - a fixture

from app import services
from app.config import Settings
from app.ml import TrainConfig
from app.server.store import SessionStore, new_session_id
from app.server.workspaces import Workspaces, open_workspaces

FEATURES = ("sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm")


@pytest.fixture(params=["local", "gcs"])
def store_url(request, tmp_path) -> str:
    """A local directory, or a prefix in a bucket of a local Cloud Storage API."""
    if request.param == "gcs":
        request.getfixturevalue("gcs_emulator")
        return f"gs://{BUCKET}/ws-test-{tmp_path.name}"
    return str(tmp_path / "workspaces")


def _instance(tmp_path: Path, name: str, store_url: str, **more: Any) -> SessionStore:
    """A store as one instance has it: a cache of its own, the shared store."""
    settings = Settings(
        cache_dir=str(tmp_path / name), store_url=store_url, memory_mb=4096, **more
    )
    return SessionStore.from_settings(settings)


def _train(store: SessionStore, sid: str, model: str) -> tuple[str, dict]:
    config = TrainConfig(
        target="target",
        features=FEATURES,
        task="classification",
        model=model,
        cv_folds=0,
    )
    return services.train(store, sid, config)


def _files(store_url: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(store_url, skip_instance_cache=True)
    fs.invalidate_cache()
    try:
        return sorted(fs.find(root))
    except FileNotFoundError:
        return []


def test_a_session_comes_back_whole_on_a_new_instance(tmp_path, store_url):
    first = _instance(tmp_path, "a", store_url)
    sid = new_session_id()
    services.load_dataset(first, sid, "iris", {})
    one, _ = _train(first, sid, "logistic_regression")
    two, report = _train(first, sid, "knn")
    importance = services.explanation(first, sid, two, "permutation")
    first.flush()

    second = _instance(tmp_path, "b", store_url)  # an empty cache
    assert second.backend.get(f"session:{sid}") is None
    meta, profile = services.dataset_profile(second, sid)
    assert meta["name"] == "Iris flowers" and meta["rows"] == 150
    assert profile  # made again from the kept frame
    assert [r for r, _ in second.runs(sid)] == [one, two]
    kept = second.run(sid, two)
    assert kept["number"] == 2
    for name in ("metrics", "config", "inputs", "notes", "task", "data"):
        assert kept[name] == report[name]
    _, frame = second.dataset_frame(sid)
    x = frame[list(FEATURES)].head(20)
    assert (second.model(sid, two).predict(x) == first.model(sid, two).predict(x)).all()
    assert second.explanation(sid, two, _name("permutation")) == importance
    assert services.last_choices(second, sid, meta) == {
        "target": "target",
        "model": "knn",
    }
    three, _ = _train(second, sid, "decision_tree")  # numbering goes on
    assert second.run(sid, three)["number"] == 3


def _name(kind: str, **options: Any) -> str:
    return f"{kind}:{json.dumps(options, sort_keys=True)}"


def test_forgetting_leaves_no_object_of_the_session(tmp_path, store_url):
    store = _instance(tmp_path, "a", store_url)
    sid, other = new_session_id(), new_session_id()
    for each in (sid, other):
        services.load_dataset(store, each, "iris", {})
        run, _ = _train(store, each, "logistic_regression")
        services.explanation(store, each, run, "permutation")
    store.flush()
    mine = store.durable.folder(sid).split("/ws/")[1]
    assert any(mine in path for path in _files(store_url))
    store.forget_session(sid)
    left = _files(store_url)
    assert not any(mine in path for path in left)
    theirs = store.durable.folder(other).split("/ws/")[1]
    assert sum(theirs in path for path in left) >= 4  # record, frame, report, model
    # ...and a new instance finds nothing of it.
    assert _instance(tmp_path, "b", store_url).session(sid)["held"] == {}


def test_runs_and_data_dropped_from_a_session_are_deleted_from_the_store(
    tmp_path, store_url
):
    store = _instance(tmp_path, "a", store_url, max_runs_per_session=2)
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    first, _ = _train(store, sid, "logistic_regression")
    _train(store, sid, "knn")
    _train(store, sid, "decision_tree")  # run 1 goes: 2 runs at most
    store.flush()
    runs = {
        p.rsplit("/runs/", 1)[1].split("/")[0]
        for p in _files(store_url)
        if "/runs/" in p
    }
    assert len(runs) == 2
    second = _instance(tmp_path, "b", store_url, max_runs_per_session=2)
    assert [r["number"] for _, r in second.runs(sid)] == [2, 3]
    assert first not in second.run_ids(sid)


def test_object_names_carry_no_ids_and_local_files_are_private(tmp_path, iris):
    before = os.umask(0o022)
    try:
        store = _instance(tmp_path, "a", str(tmp_path / "ws"))
        sid = new_session_id()
        services.load_dataset(store, sid, "iris", {})
        run, _ = _train(store, sid, "logistic_regression")
        store.shared_secret()
    finally:
        os.umask(before)
    paths = [p for p in (tmp_path / "ws").rglob("*")]
    assert paths
    for path in paths:
        assert sid not in str(path) and run not in str(path)
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    record = json.loads(next((tmp_path / "ws").rglob("session.json")).read_text())
    assert sid not in json.dumps(record)


def test_a_new_instance_signs_with_the_secret_the_first_one_made(tmp_path, store_url):
    instance = _instance(tmp_path, "a", store_url)
    first = instance.shared_secret()
    assert first == instance.backend.shared_secret()  # the cache's lasts
    assert len(first) >= 40
    assert _instance(tmp_path, "b", store_url).shared_secret() == first
    off = _instance(tmp_path, "c", "off")
    assert off.durable is None and off.shared_secret() != first


def test_only_what_json_gives_back_as_it_was_is_kept_as_json(tmp_path):
    store = Workspaces(str(tmp_path / "ws"))
    sid = new_session_id()
    kept = {"a": [1, 2.5, None, "x"], "b": {"c": True}, "nan": float("nan")}
    store.save_explanation(sid, "r" * 12, "one", kept)
    back = store.explanation(sid, "r" * 12, "one")
    assert back["a"] == kept["a"] and np.isnan(back["nan"])
    for odd in ({"t": (1, 2)}, {"n": np.int64(3)}, {1: "x"}, {"a": np.arange(3)}):
        store.save_explanation(sid, "r" * 12, "odd", odd)
        assert store.explanation(sid, "r" * 12, "odd") is None  # computed again
    store.save_explanation(sid, "r" * 12, "bytes", b"\x00parquet")
    assert store.explanation(sid, "r" * 12, "bytes") == b"\x00parquet"


def test_a_kept_model_with_a_foreign_type_is_refused(tmp_path, caplog):
    import skops.io as sio

    store = Workspaces(str(tmp_path / "ws"))
    sid = new_session_id()
    path = Path(store._run_path(sid, "r" * 12)) / "model.skops"
    path.parent.mkdir(parents=True)
    path.write_bytes(sio.dumps({"f": logging.getLogger}))  # not a pipeline's type
    with caplog.at_level(logging.WARNING):
        assert store.model(sid, "r" * 12) is None
    assert "refused" in caplog.text


def test_objects_past_the_retention_are_swept(tmp_path):
    store = Workspaces(str(tmp_path / "ws"), retention_days=30)
    old, new = new_session_id(), new_session_id()
    store.save_record(old, {"held": {}})
    store.save_report(old, "r" * 12, {"n": 1})
    store.save_record(new, {"held": {}})
    month_ago = time.time() - 31 * 86400
    for path in Path(store.folder(old)).rglob("*"):
        if path.is_file():
            os.utime(path, (month_ago, month_ago))
    assert store.sweep() == 2
    assert not Path(store.folder(old)).exists()  # its emptied folders too
    assert store.record(new) == {"held": {}}
    assert Workspaces(str(tmp_path / "ws2"), retention_days=0).sweep() == 0


def test_a_failing_store_never_fails_the_visitor(tmp_path, caplog, monkeypatch):
    store = _instance(tmp_path, "a", str(tmp_path / "ws"))
    sid = new_session_id()

    def broken(*_: Any, **__: Any) -> None:
        raise OSError("the bucket is not reachable")

    monkeypatch.setattr("app.server.workspaces._write_private", broken)
    monkeypatch.setattr(store.durable.fs, "cat_file", broken)
    with caplog.at_level(logging.WARNING):
        services.load_dataset(store, sid, "iris", {})
        run, report = _train(store, sid, "logistic_regression")
        store.flush()
    assert store.run(sid, run)["metrics"] == report["metrics"]  # from the cache
    assert "durable store: could not write" in caplog.text
    assert sid not in caplog.text and run not in caplog.text


def test_off_keeps_only_the_cache(tmp_path):
    assert open_workspaces("off", 30) is None
    store = _instance(tmp_path, "a", "off")
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    assert not (tmp_path / "a" / "workspaces").exists()
    assert _instance(tmp_path, "b", "off").session(sid)["dataset"] is None


def test_the_default_store_is_a_directory_beside_the_cache(tmp_path):
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    assert settings.store_location == str(tmp_path / "cache" / "workspaces")
    assert settings.retention_days == 30
    env = Settings.from_env({"STORE_URL": "gs://b/p", "RETENTION_DAYS": "7"})
    assert (env.store_location, env.retention_days) == ("gs://b/p", 7.0)


def test_a_job_writes_its_model_after_its_answer_and_before_it_exits(tmp_path):
    store = _instance(tmp_path, "a", str(tmp_path / "ws"))
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the "job"
        os.close(read)
        store.defer()
        run, _ = _train(store, sid, "random_forest")
        written = os.path.exists(f"{store.durable._run_path(sid, run)}/model.skops")
        store.flush()
        os.write(write, json.dumps([run, written]).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as handle:
        run, written_before_flush = json.loads(handle.read())
    assert written_before_flush is False  # the answer did not wait for it
    assert os.path.exists(f"{store.durable._run_path(sid, run)}/model.skops")


def test_a_bucket_opened_before_a_fork_works_after_it(gcs_emulator):  # noqa: F811
    """gunicorn builds the app in its master and forks the workers and jobs: an
    asynchronous file system (gcsfs) made before must still work after."""
    from app.server.shares import Shares

    url = f"gs://{BUCKET}/fork-{new_session_id()}"
    workspaces, shares = Workspaces(f"{url}/ws"), Shares(f"{url}/shares")
    sid = new_session_id()
    workspaces.save_record(sid, {"held": {}, "before": True})  # used before
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the worker
        os.close(read)
        try:
            workspaces.save_record(sid, {"held": {}, "after": True})
            token = shares.publish(sid, {"run.json": b"{}"}, {"number": 1})
            found = [workspaces.record(sid), shares.manifest(token)["about"]]
        except Exception as exc:  # noqa: BLE001 - reported to the test
            found = [repr(exc)]
        os.write(write, json.dumps(found).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as handle:
        found = json.loads(handle.read())
    assert found == [{"held": {}, "after": True}, {"number": 1}]
