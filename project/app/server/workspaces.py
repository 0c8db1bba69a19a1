"""Durable workspaces: what a visitor's work is made of, kept through fsspec so
that losing an instance (and its cache) loses nothing.

``STORE_URL`` names a local directory (the default) or a bucket prefix
(``gs://bucket/workspaces``). Each session's workspace is one folder, named by
a hash of its id (object names carry no personal data, and the id, a secret,
cannot be read back from them)::

    ws/<sha256(session id)[:32]>/
        session.json                 the session's record (dataset, runs, links...)
        frames/<sha256>.parquet      each dataset once, by content hash
        runs/<run id>/report.json    metrics, figure data, settings
        runs/<run id>/model.skops    the fitted pipeline (written after the answer)
        runs/<run id>/x-<hash>.json  an explanation (.bin: bytes, e.g. a sample)

so that forgetting a workspace is one recursive delete. Every object is kept
``retention_days`` after it was written: a bucket lifecycle rule does it on
Cloud Run, :meth:`Workspaces.sweep` locally. Nothing read here is unpickled:
records and reports are JSON, models skops (loaded trusting only the types the
app's pipelines hold). A failure of the durable store is logged and never fails
the visitor's request: the instance's cache still serves it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
import time
from typing import Any, Callable

from app.server.backends import private_directory
from app.server.storage import ForkSafeFileSystem

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"
SECRET_FILE = "secret-key"  # nosec B105 - a file name, not a secret
#: A session id found in no workspace is not looked for again for this long
#: (per process): a new visitor's first requests do not each ask the bucket.
MISSING_SECONDS = 30.0
#: How often a process sweeps a local store for objects past their retention.
SWEEP_EVERY_SECONDS = 6 * 3600.0


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> bool:
    """Whether JSON gives ``value`` back as it is: dicts with string keys,
    lists, strings, numbers, booleans and None only (no tuple, no numpy)."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def _json(value: Any) -> bytes | None:
    """``value`` as JSON when JSON gives it back exactly, else None."""
    return json.dumps(value).encode() if _plain(value) else None


class Workspaces:
    """The durable copies of every session's work under one fsspec URL."""

    def __init__(self, url: str, retention_days: float = 30.0, **options: Any):
        """``options`` go to the file system (gcsfs: ``token``, ``project``...)."""
        self.url = url
        self.retention_seconds = max(float(retention_days), 0.0) * 86400
        self._storage = ForkSafeFileSystem(url, **options)
        self.root = self._storage.root
        self.local = self._storage.local
        if self.local:  # like the cache: only the service's user may read it
            self.root = private_directory(os.path.abspath(self.root))
        self._missing: dict[str, float] = {}
        self._lock = threading.Lock()
        self._later: list[Callable[[], Any]] = []
        self._defer_pid = 0
        self._swept = 0.0

    def __repr__(self) -> str:
        return f"Workspaces({self.url!r})"

    @property
    def fs(self) -> Any:
        """The file system (made again in each forked process)."""
        return self._storage.fs

    # -- names -------------------------------------------------------------------
    def folder(self, sid: str) -> str:
        """The folder of session ``sid``'s workspace."""
        return f"{self.root}/ws/{_hash(sid)[:32]}"

    def _frame_path(self, sid: str, frame_key: str) -> str:
        return f"{self.folder(sid)}/frames/{_hash(frame_key)[:40]}.parquet"

    def _run_path(self, sid: str, run_id: str) -> str:
        return f"{self.folder(sid)}/runs/{_hash(run_id)[:24]}"

    def _explain_path(self, sid: str, run_id: str, name: str, kind: str) -> str:
        return f"{self._run_path(sid, run_id)}/x-{_hash(name)[:32]}.{kind}"

    # -- reading and writing, never failing the request ---------------------------
    def _write(self, path: str, data: bytes) -> bool:
        try:
            if self.local:
                _write_private(self.root, path, data)
            else:
                self.fs.pipe_file(path, data)
            return True
        except Exception as exc:  # noqa: BLE001 - the cache still serves it
            log.warning("durable store: could not write %s: %r", _kind(path), exc)
            return False

    def _read(self, path: str) -> bytes | None:
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - as if it were not kept
            log.warning("durable store: could not read %s: %r", _kind(path), exc)
            return None

    def _delete(self, path: str, recursive: bool = False) -> None:
        try:
            self.fs.rm(path, recursive=recursive)
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - the retention removes it later
            log.warning("durable store: could not delete %s: %r", _kind(path), exc)

    def _read_json(self, path: str) -> Any:
        data = self._read(path)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            log.warning("durable store: %s is not JSON; ignored", _kind(path))
            return None

    def shared_secret(self, first: Callable[[], str]) -> str | None:
        """The secret of every instance using this store: the first instance to
        need it writes ``first()`` (its cache's, so that an existing one lasts);
        None when the store cannot be read."""
        path = f"{self.root}/{SECRET_FILE}"
        kept = self._read(path)
        if not kept:
            made = first().encode()
            if self.local:
                _write_private(self.root, path, made, replace=False)
            else:
                self._write(path, made)
            kept = self._read(path)  # of two first instances, the last one's
        return kept.decode("ascii").strip() if kept else None

    # -- the session's record -------------------------------------------------------
    def save_record(self, sid: str, record: dict[str, Any]) -> None:
        """Keep the session's record (written on every change)."""
        data = _json(record)
        if data is None:
            log.warning("durable store: a session record is not JSON; not kept")
            return
        if self._write(f"{self.folder(sid)}/{SESSION_FILE}", data):
            with self._lock:
                self._missing.pop(sid, None)
        self._sweep_if_due()

    def record(self, sid: str) -> dict[str, Any] | None:
        """The session's kept record, or None (looked for at most every
        :data:`MISSING_SECONDS` per process while there is none)."""
        now = time.monotonic()
        with self._lock:
            if now - self._missing.get(sid, -MISSING_SECONDS) < MISSING_SECONDS:
                return None
        record = self._read_json(f"{self.folder(sid)}/{SESSION_FILE}")
        if not isinstance(record, dict):
            with self._lock:
                self._missing[sid] = now
                while len(self._missing) > 10_000:
                    self._missing.pop(next(iter(self._missing)))
            return None
        return record

    def forget(self, sid: str) -> None:
        """Delete the whole workspace of ``sid``, at once."""
        self._delete(self.folder(sid), recursive=True)
        with self._lock:
            self._missing[sid] = time.monotonic()

    # -- datasets ----------------------------------------------------------------
    def has_frame(self, sid: str, frame_key: str) -> bool:
        """Whether the workspace keeps the frame ``frame_key``."""
        try:
            return bool(self.fs.exists(self._frame_path(sid, frame_key)))
        except Exception as exc:  # noqa: BLE001 - then it is written again
            log.warning("durable store: could not look for a frame: %r", exc)
            return False

    def save_frame(self, sid: str, frame_key: str, data: bytes) -> None:
        """Keep a frame's Parquet bytes in the workspace."""
        self._write(self._frame_path(sid, frame_key), data)

    def frame(self, sid: str, frame_key: str) -> bytes | None:
        """A kept frame's Parquet bytes, or None."""
        return self._read(self._frame_path(sid, frame_key))

    def delete_frame(self, sid: str, frame_key: str) -> None:
        """Delete a frame the session no longer holds."""
        self._delete(self._frame_path(sid, frame_key))

    # -- runs -----------------------------------------------------------------------
    def save_report(self, sid: str, run_id: str, report: dict[str, Any]) -> None:
        """Keep a run's report (metrics, figure data, settings) as JSON."""
        data = _json(report)
        if data is None:
            log.warning("durable store: a run's report is not JSON; not kept")
            return
        self._write(f"{self._run_path(sid, run_id)}/report.json", data)

    def report(self, sid: str, run_id: str) -> dict[str, Any] | None:
        """A kept run's report, or None."""
        report = self._read_json(f"{self._run_path(sid, run_id)}/report.json")
        return report if isinstance(report, dict) else None

    def save_model_later(self, sid: str, run_id: str, pipeline: Any) -> None:
        """Keep a run's fitted pipeline (skops): in a job process that called
        :meth:`defer`, once the job has answered (see :meth:`flush`); else now."""
        path = f"{self._run_path(sid, run_id)}/model.skops"
        if self._defer_pid == os.getpid():
            with self._lock:
                self._later.append(lambda: self._write(path, _skops(pipeline)))
        else:
            self._write(path, _skops(pipeline))

    def model(self, sid: str, run_id: str) -> Any:
        """A kept run's fitted pipeline, or None (also when it holds a type that
        the app's own pipelines never hold)."""
        from app.ml import PredictionError
        from app.ml.predict import model_from_skops

        data = self._read(f"{self._run_path(sid, run_id)}/model.skops")
        if data is None:
            return None
        try:
            return model_from_skops(data)
        except (PredictionError, ValueError, OSError) as exc:
            log.warning("durable store: a kept model was refused: %s", exc)
            return None

    def save_explanation(self, sid: str, run_id: str, name: str, value: Any) -> None:
        """Keep an explanation of a run: bytes as they are, else JSON (one JSON
        does not give back exactly is not kept: it is computed again if asked)."""
        if isinstance(value, bytes):
            self._write(self._explain_path(sid, run_id, name, "bin"), value)
            return
        data = _json(value)
        if data is not None:
            self._write(self._explain_path(sid, run_id, name, "json"), data)

    def explanation(self, sid: str, run_id: str, name: str) -> Any:
        """A kept explanation, or None."""
        data = self._read(self._explain_path(sid, run_id, name, "bin"))
        if data is not None:
            return data
        return self._read_json(self._explain_path(sid, run_id, name, "json"))

    def delete_run(self, sid: str, run_id: str) -> None:
        """Delete a run's report, model and explanations."""
        self._delete(self._run_path(sid, run_id), recursive=True)

    # -- writes after the answer --------------------------------------------------
    def defer(self) -> None:
        """In this process (a job's, which calls :meth:`flush` once its result is
        written), keep models' writes for :meth:`flush`: the visitor does not
        wait for them."""
        self._defer_pid = os.getpid()

    def flush(self) -> None:
        """Do the writes :meth:`defer` kept for after the answer."""
        with self._lock:
            pending, self._later = self._later, []
        for write in pending:
            try:
                write()
            except Exception:  # noqa: BLE001 - logged; the next write goes on
                log.warning("durable store: a write failed", exc_info=True)

    # -- retention ------------------------------------------------------------------
    def _sweep_if_due(self) -> None:
        if not self.local or not self.retention_seconds:
            return
        if self._defer_pid == os.getpid():
            return  # a job's process: the web workers sweep
        now = time.monotonic()
        with self._lock:
            if self._swept and now - self._swept < SWEEP_EVERY_SECONDS:
                return
            self._swept = now
        self.sweep()

    def sweep(self, now: float | None = None) -> int:
        """Delete the objects of a local store written more than the retention
        ago, and the folders left empty; returns how many went. (A bucket's
        lifecycle rule does this on Cloud Run.)"""
        if not self.local or not self.retention_seconds:
            return 0
        cutoff = (time.time() if now is None else now) - self.retention_seconds
        gone = 0
        top = os.path.join(self.root, "ws")
        for folder, dirs, files in os.walk(top, topdown=False):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    if os.stat(path).st_mtime < cutoff:
                        os.unlink(path)
                        gone += 1
                except FileNotFoundError:
                    continue
            if folder != top:
                try:
                    os.rmdir(folder)  # only when empty
                except OSError:
                    pass
        if gone:
            log.info("durable store: %d objects past their retention deleted", gone)
        return gone


def _write_private(root: str, path: str, data: bytes, replace: bool = True) -> None:
    """Write a file of a local store as the cache does: folders 0700, files
    0600 whatever the umask, and whole (a reader never sees half a file); one
    that exists is kept when not ``replace``."""
    folder = root
    for part in os.path.relpath(os.path.dirname(path), root).split(os.sep):
        folder = os.path.join(folder, part)
        try:
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)
        except FileExistsError:
            pass
    partial = f"{path}.{secrets.token_hex(4)}.part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
    finally:
        if fd >= 0:
            os.close(fd)
    if replace:
        os.replace(partial, path)
        return
    try:
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(partial)


def _skops(pipeline: Any) -> bytes:
    from app.ml.predict import model_to_skops

    return model_to_skops(pipeline)


def _kind(path: str) -> str:
    """What an object is, for a log line (never its name: no ids in logs)."""
    name = path.rsplit("/", 1)[-1]
    if name == SESSION_FILE:
        return "a session record"
    for ending, kind in (
        (".parquet", "a frame"),
        ("report.json", "a run's report"),
        (".skops", "a model"),
        (".part", "a file"),
    ):
        if name.endswith(ending):
            return kind
    return "a workspace" if "/runs/" not in path else "a run's file"


def open_workspaces(url: str, retention_days: float) -> Workspaces | None:
    """The workspaces at ``url``, or None when it is ``off``."""
    if url.strip().lower() in {"off", "none", "0", "false"}:
        return None
    return Workspaces(url, retention_days)
