"""Server-side, per-visitor state: datasets and trained runs, keyed by session id.

Gunicorn workers (and Cloud Run instances) share no memory, so everything a visitor
owns lives here: on a local disk cache by default (shared by all workers of one
machine, no extra service), or on Redis when ``REDIS_URL`` is set (shared by all
instances), bounded in size and expiring when idle. Frames are stored once per
content (parquet bytes, addressed by their SHA-256).

Each session's record keeps a ledger of what it holds (its datasets, runs, fitted
models and explanations, with their sizes), so that one visitor can fill at most
their quota of the shared cache: past it, their own oldest items go first. Runs get
random ids that are never reused, so nothing cached under a run's id (a fitted
model, an explanation) can ever be served for another run.
"""

from __future__ import annotations

import copy
import hashlib
import logging

# Unpickling is limited to values this server wrote itself (see RedisBackend._decode).
import pickle  # nosec B403
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import pandas as pd

from app.config import Settings
from app.server.backends import (  # noqa: F401 - part of this module's interface
    DiskBackend,
    RedisBackend,
    SessionExpired,
    StoreUnavailable,
    UnsafeCacheDirectory,
    key_kind,
    open_private_cache,
    private_directory,
)
from app.server.frames import (  # noqa: F401 - part of this module's interface
    frame_to_bytes,
    release_arrow_memory,
)
from app.server.quota import (  # noqa: F401 - QuotaExceeded: part of the interface
    QuotaExceeded,
    below_max,
    make_room,
    notice,
    used,
)
from app.server.workspaces import Workspaces, open_workspaces

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{12}$")
#: How a cache on disk forgets when full: the items read longest ago go first, so
#: that the data of visitors who are working survives a flood of new items.
MB = 1024 * 1024


def new_session_id() -> str:
    """A fresh, unguessable session id (128 bits of randomness)."""
    return secrets.token_urlsafe(16)


def valid_session_id(value: Any) -> bool:
    """Whether ``value`` has the shape of an id made by :func:`new_session_id`."""
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


def new_run_id() -> str:
    """A fresh run id: 72 random bits, URL and JSON safe, never reused."""
    return secrets.token_urlsafe(9)


def valid_run_id(value: Any) -> bool:
    """Whether ``value`` has the shape of an id made by :func:`new_run_id`."""
    return isinstance(value, str) and bool(_RUN_ID.match(value))


class Superseded(Exception):
    """A dataset load was overtaken by one the visitor asked for later."""


TOUCH_EVERY = 60.0


class RunAdded(NamedTuple):
    """What :meth:`SessionStore.add_run` made: the id, the number shown, a notice."""

    run_id: str
    number: int
    notice: str


def _run_keys(sid: str, entry: dict[str, Any]) -> list[str]:
    """The keys of what a run's ledger entry holds: report, model, explanations."""
    prefix = f"{sid}:{entry['id']}"
    return [f"run:{prefix}", f"model:{prefix}"] + [
        f"explain:{prefix}:{name}" for name in entry.get("explain", ())
    ]


def _empty_record() -> dict[str, Any]:
    return {"dataset": None, "held": {}, "seq": 0}


def _lasting(record: dict[str, Any]) -> dict[str, Any]:
    """What of a record the durable store keeps changes of: all but the count
    of dataset loads asked for (which only orders loads running now)."""
    return {k: copy.deepcopy(v) for k, v in record.items() if k != "loads"}


def _digest(sid: str) -> str:
    """A short stand-in for a session id in shared records (ids are secrets)."""
    return hashlib.sha256(sid.encode()).hexdigest()[:20]


class SessionStore:
    """Datasets and runs of each visitor session, with expiry, a quota and a size cap.

    A session's record is ``{"dataset": meta or None, "held": ledger, "seq": n}``.
    The ledger maps what the session holds, oldest first, to its entry: a dataset
    (``frame:<sha256>``: its frame and profile, shared with any session that loads
    the same content) or a run (``run:<id>``: its report, fitted pipeline and
    explanations, with the number the visitor sees). Past the quota, a session's
    own oldest runs go first, then datasets no longer in use.

    Fitted pipelines read back are also kept in a small per-process LRU, so that
    live what-if predictions do not deserialise a model on every keystroke.

    With ``durable`` (:class:`~app.server.workspaces.Workspaces`), every change
    is also written there, and what the cache lost (an instance gone, an idle
    session expired) is read back from it: the cache stays in front for speed.
    """

    MODEL_CACHE_SIZE = 8
    #: Sessions tracked as holders of one frame; past this, it is never deleted
    #: early (a popular bundled dataset), only evicted or expired.
    MAX_HOLDERS = 64

    def __init__(
        self,
        backend: Any,
        *,
        ttl_seconds: int,
        max_runs: int,
        quota_bytes: int | None = None,
        durable: Workspaces | None = None,
    ) -> None:
        self.backend = backend
        self.durable = durable
        self.ttl = ttl_seconds
        self.max_runs = max_runs
        self.quota = quota_bytes if quota_bytes and quota_bytes > 0 else None
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._models_lock = threading.Lock()
        self._touched: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "SessionStore":
        """The store the settings describe: Redis at ``redis_url``, else on disk."""
        backend: DiskBackend | RedisBackend
        if settings.redis_url:
            backend = RedisBackend(settings.redis_url)
        else:
            backend = DiskBackend(
                settings.cache_dir, size_limit=settings.cache_size_mb * MB
            )
        return cls(
            backend,
            ttl_seconds=settings.session_ttl_seconds,
            max_runs=settings.max_runs_per_session,
            quota_bytes=int(settings.session_quota_mb * MB),
            durable=open_workspaces(settings.store_location, settings.retention_days),
        )

    def defer(self) -> None:
        """In a job's process: write a run's model to the durable store after
        the job's result (see :meth:`flush`)."""
        if self.durable is not None:
            self.durable.defer()

    def flush(self) -> None:
        """Wait for the durable writes this process left for after its answers."""
        if self.durable is not None:
            self.durable.flush()

    def _read_through(self, key: str, load: Callable[[], Any]) -> Any:
        """The cache's value under ``key``; else ``load()`` from the durable
        store (None without one), put back in the cache."""
        value = self.backend.get(key)
        if value is None and self.durable is not None:
            value = load()
            if value is not None:
                self.backend.set(key, value, self.ttl)
        return value

    def shared_secret(self) -> str:
        """A secret shared by every process that uses this store (made once):
        kept in the durable store when there is one (the cache's, the first
        time), so that a new instance signs as the one it replaces did."""
        if self.durable is not None:
            secret = self.durable.shared_secret(self.backend.shared_secret)
            if secret:
                return secret
            log.warning("durable store unreadable: the cache's secret signs instead")
        return self.backend.shared_secret()

    # -- session records -------------------------------------------------------
    def _session_key(self, sid: str) -> str:
        if not valid_session_id(sid):
            raise SessionExpired("This page's session is not valid; reload the page.")
        return f"session:{sid}"

    def session(self, sid: str) -> dict[str, Any]:
        """The session's record: ``{"dataset": meta or None, "held": ..., "seq"}``.

        Reading it keeps the session alive; the expiry is pushed back at most once a
        minute per process, so that frequent reads (what-if) do not each write.
        """
        key = self._session_key(sid)
        record = self._read_through(key, lambda: self.durable.record(sid))
        if record is None:
            return _empty_record()
        now = time.monotonic()
        with self._models_lock:
            due = now - self._touched.get(key, -TOUCH_EVERY) >= TOUCH_EVERY
            if due:
                self._touched[key] = now
                while len(self._touched) > 10_000:
                    self._touched.pop(next(iter(self._touched)))
        if due:
            self.backend.touch(key, self.ttl)
        return record

    def _update(self, sid: str, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Apply ``change`` to the session's record atomically; returns its result.

        When ``change`` raises, the record is left as it was.
        """
        key = self._session_key(sid)
        with self.backend.transaction(key):
            record = self.backend.get(key)
            if record is None and self.durable is not None:
                record = self.durable.record(sid)
            record = record or _empty_record()
            record.setdefault("held", {})
            record.pop("runs", None)  # a record of an older version: runs by number
            before = _lasting(record) if self.durable is not None else None
            result = change(record)
            self.backend.set(key, record, self.ttl)
            if self.durable is not None and _lasting(record) != before:
                self.durable.save_record(sid, record)
        return result

    def usage(self, sid: str) -> int:
        """Bytes the session holds (by its ledger), its published runs included."""
        return used(self.session(sid))

    def _delete_quietly(self, keys: list[str]) -> None:
        """Delete keys while handling another error (they expire anyway)."""
        for key in keys:
            try:
                self.backend.delete(key)
            except Exception as exc:  # the store may be what failed
                log.warning(
                    "session store: could not delete %s: %r", key_kind(key), exc
                )

    def _discard(self, sid: str, entries: list[dict[str, Any]]) -> None:
        """Delete what dropped ledger entries named (shared frames: if unheld)."""
        for entry in entries:
            if entry["kind"] == "run":
                with self._models_lock:
                    self._models.pop(f"{sid}:{entry['id']}", None)
                for key in _run_keys(sid, entry):
                    self.backend.delete(key)
                if self.durable is not None:
                    self.durable.delete_run(sid, entry["id"])
            else:
                self._release(entry["keys"], sid)
                if self.durable is not None and entry["keys"]:
                    self.durable.delete_frame(sid, entry["keys"][0])

    # -- frames ------------------------------------------------------------------
    def _frame_bytes(self, frame: pd.DataFrame) -> tuple[str, bytes]:
        data = frame_to_bytes(frame)
        return "frame:" + hashlib.sha256(data).hexdigest(), data

    def put_frame(self, frame: pd.DataFrame) -> str:
        """Store a frame once per content; returns its content key."""
        return self.save_frame(frame)[0]

    def save_frame(
        self, frame: pd.DataFrame, holder: str | None = None
    ) -> tuple[str, int]:
        """Store a frame once per content, for session ``holder``; (key, bytes).

        The holder is recorded before the frame is written, so that another
        session letting go of the same content cannot delete it in between.
        """
        key, data = self._frame_bytes(frame)
        if holder is not None:
            self._hold(key, holder)
        if not self.backend.touch(key, self.ttl):
            self.backend.set(key, data, self.ttl)
        return key, len(data)

    def has_frame(self, key: str, holder: str | None = None) -> bool:
        """Whether a frame is still stored (and keep it alive, for ``holder``)."""
        if not key.startswith("frame:"):
            return False
        if holder is not None:
            self._hold(key, holder)
        return self.backend.touch(key, self.ttl)

    def get_frame(
        self, key: str, columns: list[str] | None = None, sid: str | None = None
    ) -> pd.DataFrame:
        """Read a stored frame, or only some of its columns (not reading the rest);
        one the cache lost comes back from session ``sid``'s durable workspace."""
        if not key.startswith("frame:"):
            raise SessionExpired("The data of this session has expired; load it again.")
        handle = self.backend.open(key)
        if handle is None and sid is not None and self.durable is not None:
            data = self.durable.frame(sid, key)
            if data is not None:
                self.backend.set(key, data, self.ttl)
                handle = self.backend.open(key)
        if handle is None:
            raise SessionExpired("The data of this session has expired; load it again.")
        with handle:
            frame = pd.read_parquet(handle, engine="pyarrow", columns=columns)
        release_arrow_memory()
        return frame

    def _hold(self, frame_key: str, sid: str) -> None:
        """Record that session ``sid`` uses the frame (see :meth:`_release`)."""
        self._session_key(sid)
        key = "holders:" + frame_key
        current = self.backend.get(key)
        if current is not None and current.get("many"):
            return
        now = time.time()
        with self.backend.transaction(key):
            record = self.backend.get(key) or {"sids": {}}
            if not record.get("many"):
                sids = {d: t for d, t in record["sids"].items() if now - t < self.ttl}
                sids[_digest(sid)] = now
                record = (
                    {"many": True} if len(sids) > self.MAX_HOLDERS else {"sids": sids}
                )
            self.backend.set(key, record, self.ttl)

    def _release(self, keys: list[str], sid: str) -> None:
        """Session ``sid`` no longer uses a frame: delete it (and ``keys``) if unheld.

        Only when the frame's holders are known and none is left: an unknown or
        popular frame is left to expire or be evicted.
        """
        if not keys:
            return
        key = "holders:" + keys[0]
        with self.backend.transaction(key):
            record = self.backend.get(key)
            if record is None or record.get("many"):
                return
            record["sids"].pop(_digest(sid), None)
            if record["sids"]:
                self.backend.set(key, record, self.ttl)
                return
            for name in [*keys, key]:
                self.backend.delete(name)

    def remember(self, key: str, value: Any) -> int:
        """Store a derived value (a profile, a cached lookup) for the session TTL.

        Returns the bytes stored.
        """
        return self.backend.set(key, value, self.ttl)

    def drop(self, key: str) -> None:
        """Forget what :meth:`remember` kept under ``key``."""
        self.backend.delete(key)

    def recall(self, key: str) -> Any:
        """A value stored by :meth:`remember`, or None."""
        return self.backend.get(key)

    @staticmethod
    def size_of(value: Any) -> int:
        """About the bytes ``value`` takes in the store (its pickle)."""
        if isinstance(value, bytes):
            return len(value)
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    # -- uploads waiting for the job that reads them -------------------------------
    def stage(self, sid: str, slot: str, data: bytes, seconds: int) -> str:
        """Keep an upload's bytes for ``seconds`` in one of the session's slots
        (a newer upload replaces the one waiting there, so a session holds at most
        one upload per slot); returns the token that reads them."""
        token = secrets.token_hex(16)
        self.backend.set(self._staged_key(sid, slot), token.encode() + data, seconds)
        return token

    def unstage(self, sid: str, slot: str, token: str) -> bytes | None:
        """The bytes :meth:`stage` kept under ``token``; None when they are gone,
        replaced, or not this session's. They stay until they expire, so that a
        request sent again (a retried poll or job) reads them again."""
        if not re.fullmatch(r"[0-9a-f]{32}", token or ""):
            return None
        kept = self.backend.get(self._staged_key(sid, slot))
        if not isinstance(kept, bytes) or kept[:32] != token.encode():
            return None
        return kept[32:]

    def _staged_key(self, sid: str, slot: str) -> str:
        if not re.fullmatch(r"[a-z]{1,16}", slot):
            raise ValueError(f"Unknown upload slot {slot!r}")
        self._session_key(sid)  # refuses a malformed session id
        return f"staged:{sid}:{slot}"

    # -- the session's dataset ---------------------------------------------------
    def begin_load(self, sid: str) -> int:
        """A ticket for a dataset load the visitor asked for now: of two loads,
        the later asked for stays current, whichever ends last."""

        def change(record: dict[str, Any]) -> int:
            record["loads"] = int(record.get("loads") or 0) + 1
            return record["loads"]

        return self._update(sid, change)

    def set_dataset(
        self, sid: str, meta: dict[str, Any], ticket: int | None = None
    ) -> str:
        """Make ``meta`` (which names a stored frame) the session's current dataset.

        ``meta["bytes"]`` is what its frame and profile take (``meta["profile"]``
        names the profile). Returns a sentence for the visitor when older items
        were removed to make room, else "".

        Raises
        ------
        QuotaExceeded
            The dataset alone is larger than the quota (the session is unchanged).
        Superseded
            ``ticket`` (from :meth:`begin_load`) is older than a load asked for
            since (the session is unchanged).
        """
        self._session_key(sid)
        frame = meta.get("frame")
        frame = frame if isinstance(frame, str) and frame.startswith("frame:") else None
        if frame is not None:
            self._hold(frame, sid)
        keys = [k for k in (frame, meta.get("profile")) if isinstance(k, str)]
        size = int(meta.get("bytes") or 0)

        def change(record: dict[str, Any]) -> list[dict[str, Any]]:
            if ticket is not None and int(record.get("loads") or 0) > ticket:
                raise Superseded(f"a later load replaced load {ticket}")
            held = record["held"]
            record["dataset"] = meta  # the previous one may go now
            dropped: list[dict[str, Any]] = []
            if frame is not None:
                entry = held.pop(frame, None)
                if entry is None:
                    dropped = make_room(
                        record,
                        size,
                        {frame},
                        "This dataset",
                        "Load fewer rows or columns.",
                        self.quota,
                    )
                    entry = {"kind": "data", "bytes": size, "keys": keys}
                entry["name"] = str(meta.get("name") or "")
                held[frame] = entry  # the newest now
            return dropped

        try:
            dropped = self._update(sid, change)
        except (QuotaExceeded, Superseded):
            if frame is not None and frame not in self.session(sid).get("held", {}):
                self._release(keys, sid)
            raise
        self._discard(sid, dropped)
        if frame is not None and self.durable is not None:
            self._keep_frame(sid, frame)
        return notice(dropped, [], self.quota, self.max_runs)

    def _keep_frame(self, sid: str, frame: str) -> None:
        """Write the frame to the session's workspace, unless it is there."""
        if self.durable is None or self.durable.has_frame(sid, frame):
            return
        handle = self.backend.open(frame)
        if handle is not None:
            with handle:
                self.durable.save_frame(sid, frame, handle.read())

    def dataset(self, sid: str) -> dict[str, Any]:
        """The current dataset's metadata; raises SessionExpired when there is none."""
        meta = self.session(sid).get("dataset")
        if meta is None:
            raise SessionExpired("No data is loaded in this session.")
        return meta

    def dataset_frame(
        self, sid: str, columns: list[str] | None = None
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        """The current dataset's metadata and frame."""
        meta = self.dataset(sid)
        return meta, self.get_frame(meta["frame"], columns, sid)

    # -- runs ----------------------------------------------------------------------
    def add_run(self, sid: str, report: dict[str, Any], pipeline: Any) -> RunAdded:
        """Keep a trained run under a new id; the visitor sees it as its number.

        Older runs are removed beyond ``max_runs``, and the session's oldest items
        beyond its quota; ``notice`` says so ("" when nothing was removed).

        Raises
        ------
        QuotaExceeded
            The run does not fit in the quota (nothing is kept).
        """
        self._session_key(sid)
        run_id = new_run_id()
        keys = [f"run:{sid}:{run_id}", f"model:{sid}:{run_id}"]
        size = self.backend.set(keys[0], report, self.ttl)
        size += self.backend.set(keys[1], pipeline, self.ttl)
        data = report.get("data") if isinstance(report, dict) else None
        frame = data.get("frame") if isinstance(data, dict) else None

        def change(record: dict[str, Any]) -> tuple[int, list, list]:
            held = record["held"]
            runs = [name for name, entry in held.items() if entry["kind"] == "run"]
            extra = len(runs) - max(self.max_runs - 1, 0)
            over_count = [held.pop(name) for name in runs[: max(extra, 0)]]
            over_quota = make_room(
                record,
                size,
                {frame},
                "This run (its fitted model and results)",
                "Try a smaller model, or fewer rows.",
                self.quota,
            )
            number = record["seq"] = record.get("seq", 0) + 1
            held["run:" + run_id] = {
                "kind": "run",
                "id": run_id,
                "number": number,
                "bytes": size,
                "data": frame,
                "explain": [],
            }
            return number, over_quota, over_count

        try:
            number, over_quota, over_count = self._update(sid, change)
        except Exception:
            self._delete_quietly(keys)
            raise
        self._discard(sid, over_quota + over_count)
        if self.durable is not None:
            self.durable.save_report(sid, run_id, report)
            self.durable.save_model_later(sid, run_id, pipeline)
        return RunAdded(
            run_id, number, notice(over_quota, over_count, self.quota, self.max_runs)
        )

    def remove_runs(self, sid: str, run_ids: list[str]) -> None:
        """Forget some runs of a session (and delete their data)."""
        drop = {"run:" + str(r) for r in run_ids}

        def change(record: dict[str, Any]) -> list[dict[str, Any]]:
            held = record["held"]
            return [held.pop(name) for name in list(held) if name in drop]

        self._discard(sid, self._update(sid, change))

    def forget_session(self, sid: str) -> dict[str, Any]:
        """Delete what the session holds, at once: its record, its runs (models,
        reports, explanations) and its hold on datasets (deleted when no other
        session holds them). Returns the record as it was: its published links
        and API keys are the caller's to revoke."""
        key = self._session_key(sid)
        with self.backend.transaction(key):
            record = self.backend.get(key)
            if record is None and self.durable is not None:
                record = self.durable.record(sid)
            record = record or _empty_record()
            self.backend.delete(key)
            if self.durable is not None:
                self.durable.forget(sid)
        self._discard(sid, list(record.get("held", {}).values()))
        return record

    def run_ids(self, sid: str) -> list[str]:
        """The ids of the session's runs, oldest first."""
        held = self.session(sid).get("held", {})
        return [e["id"] for e in held.values() if e["kind"] == "run"]

    def runs(self, sid: str) -> list[tuple[str, dict[str, Any]]]:
        """The session's runs, oldest first, as ``(id, report)`` pairs.

        Each report carries the run's ``number``; runs whose report was evicted
        are left out.
        """
        out = []
        for entry in self.session(sid).get("held", {}).values():
            if entry["kind"] != "run":
                continue
            report = self._report(sid, entry["id"])
            if report is not None:
                out.append((entry["id"], dict(report, number=entry["number"])))
        return out

    def _run_entry(self, sid: str, run_id: str) -> dict[str, Any]:
        """The ledger entry of a run of the session; SessionExpired when gone."""
        entry = None
        if valid_run_id(run_id):
            entry = self.session(sid).get("held", {}).get("run:" + run_id)
        if entry is None:
            raise SessionExpired("This run is no longer available.")
        return entry

    def run(self, sid: str, run_id: str) -> dict[str, Any]:
        """One run's report, with its ``number``; SessionExpired when it is gone."""
        entry = self._run_entry(sid, run_id)
        report = self._report(sid, run_id)
        if report is None:
            raise SessionExpired(f"Run {entry['number']} is no longer available.")
        return dict(report, number=entry["number"])

    def _report(self, sid: str, run_id: str) -> dict[str, Any] | None:
        return self._read_through(
            f"run:{sid}:{run_id}", lambda: self.durable.report(sid, run_id)
        )

    def model(self, sid: str, run_id: str) -> Any:
        """One run's fitted pipeline."""
        entry = self._run_entry(sid, run_id)
        key = f"{sid}:{run_id}"
        with self._models_lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        pipeline = self._read_through(
            f"model:{key}", lambda: self.durable.model(sid, run_id)
        )
        if pipeline is None:
            raise SessionExpired(f"Run {entry['number']} is no longer available.")
        with self._models_lock:
            self._models[key] = pipeline
            while len(self._models) > self.MODEL_CACHE_SIZE:
                self._models.popitem(last=False)
        return pipeline

    # -- what is derived from a run ----------------------------------------------
    def explanation(self, sid: str, run_id: str, name: str) -> Any:
        """An explanation kept by :meth:`keep_explanation`, or None.

        Raises SessionExpired when the run itself is gone.
        """
        key = f"explain:{sid}:{run_id}:{name}"
        if name not in self._run_entry(sid, run_id).get("explain", ()):
            return self.backend.get(key)  # never kept: nothing to read back
        return self._read_through(
            key, lambda: self.durable.explanation(sid, run_id, name)
        )

    #: Published links, and API keys, a session may hold at once.
    MAX_SHARES = 20

    def keep_share(
        self, sid: str, token: str, run_id: str, size: int, private: bool = False
    ) -> str:
        """Count the session's run ``run_id``, published as ``token`` (``size``
        bytes), in its quota until revoked; the oldest items go to make room,
        the run kept. Returns the notice of what went ("" if nothing).

        Raises QuotaExceeded (nothing changed): ``MAX_SHARES`` links already, or
        the published run does not fit in the quota.
        """
        number = int(self._run_entry(sid, run_id)["number"])
        published = {"token": token, "number": number, "private": bool(private)}

        def change(record: dict[str, Any]) -> list[dict[str, Any]]:
            kept = below_max(record, "shares", "published links", self.MAX_SHARES)
            run = record["held"].get("run:" + run_id, {})
            dropped = make_room(
                record,
                int(size),
                {"run:" + run_id, run.get("data")},
                "This published run (its model, report and code)",
                "Revoke a link you no longer need.",
                self.quota,
            )
            record["shares"] = [*kept, dict(published, bytes=int(size))]
            return dropped

        dropped = self._update(sid, change)
        self._discard(sid, dropped)
        return notice(dropped, [], self.quota, self.max_runs)

    def keep_key(self, sid: str, key_id: str, hint: str) -> None:
        """Remember the session's API key ``key_id`` (``hint``: its first letters);
        QuotaExceeded when it holds ``MAX_SHARES`` keys already."""

        def change(record: dict[str, Any]) -> None:
            kept = below_max(record, "keys", "API keys", self.MAX_SHARES)
            record["keys"] = [*kept, {"id": key_id, "hint": hint}]

        self._update(sid, change)

    def keys(self, sid: str) -> list[dict[str, Any]]:
        """The session's API keys (oldest first): ``{id, hint}``."""
        return list(self.session(sid).get("keys", ()))

    def forget_key(self, sid: str, key_id: str) -> None:
        """Forget an API key the session revoked."""
        self._forget(sid, "keys", "id", key_id)

    def _forget(self, sid: str, kind: str, name: str, value: str) -> None:
        def change(record: dict[str, Any]) -> None:
            record[kind] = [e for e in record.get(kind, ()) if e[name] != value]

        self._update(sid, change)

    def shares(self, sid: str) -> list[dict[str, Any]]:
        """The links the session published (oldest first): ``{token, number,
        private, bytes}``."""
        return list(self.session(sid).get("shares", ()))

    def forget_share(self, sid: str, token: str) -> None:
        """Forget a link the session revoked (its bytes no longer counted)."""
        self._forget(sid, "shares", "token", token)

    def keep_explanation(self, sid: str, run_id: str, name: str, value: Any) -> bool:
        """Keep an explanation of a run, counted in the session's quota.

        Nothing is removed to make room for it: when it does not fit (or the run
        is gone meanwhile) it is not kept, and False is returned.
        """
        if not valid_run_id(run_id):
            return False
        key = f"explain:{sid}:{run_id}:{name}"
        size = self.backend.set(key, value, self.ttl)

        def change(record: dict[str, Any]) -> bool:
            held = record["held"]
            entry = held.get("run:" + run_id)
            if entry is None:
                return False
            if name in entry["explain"]:
                return True
            total = sum(e["bytes"] for e in held.values())
            if self.quota is not None and total + size > self.quota:
                return False
            entry["bytes"] += size
            entry["explain"].append(name)
            return True

        try:
            kept = bool(self._update(sid, change))
        except Exception:
            self._delete_quietly([key])
            raise
        if not kept:
            self.backend.delete(key)
        elif self.durable is not None:
            self.durable.save_explanation(sid, run_id, name, value)
        return kept
