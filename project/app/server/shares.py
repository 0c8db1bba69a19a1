"""Published runs: durable, read-only copies of runs behind unguessable links.

A published run is a few files (its report as JSON, its fitted pipeline in skops
format, its HTML report, its code...) kept through fsspec: a local directory by
default, a Google Cloud Storage bucket (``gs://bucket/prefix``) on Cloud Run. Its
link holds a random token; object names hold only the token's hash, so that a
listing of the bucket opens nothing. A run is published when its manifest is
written (last) and revoked when the manifest is deleted (first).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping

from app.server.storage import ForkSafeFileSystem

log = logging.getLogger(__name__)

#: Random bytes in a token: 192 bits, written as 32 URL-safe characters.
TOKEN_BYTES = 24
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
_FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MANIFEST = "manifest.json"
KEYS = "keys"
#: API keys: a prefix that says what they are, then 256 random bits.
KEY_PREFIX = "dk_"
_KEY = re.compile(r"^dk_[A-Za-z0-9_-]{43}$")


class ShareNotFound(LookupError):
    """No run is published under this link (never was, or was revoked)."""


def new_token() -> str:
    """A fresh link token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def valid_token(value: Any) -> bool:
    """Whether ``value`` has the shape of a token made by :func:`new_token`."""
    return isinstance(value, str) and bool(_TOKEN.match(value))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Shares:
    """The published runs under one fsspec URL (a directory or a bucket prefix)."""

    #: Loaded files (fitted pipelines) kept per process, the most recent first.
    KEPT_LOADED = 8

    def __init__(self, url: str, **options: Any) -> None:
        """``options`` go to the file system (gcsfs: ``token``, ``project``...)."""
        self.url = url
        self._loaded: OrderedDict[tuple[str, str, float], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._storage = ForkSafeFileSystem(url, **options)
        self.root, self.local = self._storage.root, self._storage.local
        if self.local:
            self.fs.makedirs(self.root, exist_ok=True)

    @property
    def fs(self) -> Any:
        """The file system (made again in each forked process)."""
        return self._storage.fs

    def _folder(self, token: str) -> str:
        if not valid_token(token):
            raise ShareNotFound("This link is not valid.")
        return f"{self.root}/{_digest(token)[:40]}"

    def publish(
        self,
        owner: str,
        files: Mapping[str, bytes],
        about: Mapping[str, Any],
        private: bool = False,
    ) -> str:
        """Keep ``files`` (name to bytes) as a new published run of ``owner`` (a
        secret the owner holds: its session id); ``about`` is small JSON kept in
        its manifest; a ``private`` run's API needs one of its owner's keys.
        Returns the new link's token."""
        for name in files:
            if not _FILE_NAME.match(name) or name == MANIFEST:
                raise ValueError(f"Not a file name for a published run: {name!r}")
        token = new_token()
        folder = self._folder(token)
        if self.local:  # an object store has no folders to make
            self.fs.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            self.fs.pipe_file(f"{folder}/{name}", bytes(data))
        manifest = {
            "owner": _digest(owner),
            "private": bool(private),
            "published": time.time(),
            "files": {name: len(data) for name, data in files.items()},
            "about": dict(about),
        }
        self.fs.pipe_file(f"{folder}/{MANIFEST}", json.dumps(manifest).encode())
        return token

    def manifest(self, token: str) -> dict[str, Any]:
        """The published run's manifest; raises :class:`ShareNotFound`."""
        try:
            data = self.fs.cat_file(f"{self._folder(token)}/{MANIFEST}")
        except FileNotFoundError:
            raise ShareNotFound("No run is published under this link.") from None
        return json.loads(data)

    def read(self, token: str, name: str) -> bytes:
        """One file of a published run; raises :class:`ShareNotFound`."""
        if name not in self.manifest(token)["files"]:
            raise ShareNotFound(f"This published run has no {name}.")
        try:
            return self.fs.cat_file(f"{self._folder(token)}/{name}")
        except FileNotFoundError:  # revoked while being read
            raise ShareNotFound("No run is published under this link.") from None

    def cached(self, token: str, name: str, load: Callable[[bytes], Any]) -> Any:
        """``load`` of one file of a published run, kept in this process for the
        next requests while the run stays published (checked every time)."""
        key = (_digest(token), name, float(self.manifest(token)["published"]))
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        value = load(self.read(token, name))
        with self._lock:
            self._loaded[key] = value
            while len(self._loaded) > self.KEPT_LOADED:
                self._loaded.popitem(last=False)
        return value

    def owned_by(self, token: str, owner: str) -> bool:
        """Whether ``owner`` published the run under ``token``."""
        try:
            return secrets.compare_digest(self.manifest(token)["owner"], _digest(owner))
        except ShareNotFound:
            return False

    def revoke(self, token: str, owner: str) -> bool:
        """Delete the published run if ``owner`` published it; whether it did.
        The manifest goes first: the link answers "not found" from then on."""
        if not self.owned_by(token, owner):
            return False
        folder = self._folder(token)
        self.fs.rm_file(f"{folder}/{MANIFEST}")
        try:
            self.fs.rm(folder, recursive=True)
        except FileNotFoundError:  # an object store has no folders left to remove
            pass
        log.info("a published run was revoked")
        return True

    # -- API keys ------------------------------------------------------------------
    def _key_path(self, key_id: str) -> str:
        return f"{self.root}/{KEYS}/{key_id}.json"

    def create_key(self, owner: str) -> tuple[str, str]:
        """A new API key of ``owner``: (the key, shown once; its id, its hash's
        start, by which it is listed and revoked). Only the hash is kept."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = _digest(key)[:40]
        if self.local:
            self.fs.makedirs(f"{self.root}/{KEYS}", exist_ok=True)
        record = {"owner": _digest(owner), "created": time.time()}
        self.fs.pipe_file(self._key_path(key_id), json.dumps(record).encode())
        return key, key_id

    def key_owner(self, key: Any) -> str | None:
        """The owner hash of a valid, unrevoked key, else None."""
        if not isinstance(key, str) or not _KEY.match(key):
            return None
        try:
            record = json.loads(self.fs.cat_file(self._key_path(_digest(key)[:40])))
        except FileNotFoundError:
            return None
        return str(record["owner"])

    def revoke_key(self, key_id: str, owner: str) -> bool:
        """Delete the key ``key_id`` if ``owner`` created it; whether it did."""
        if not re.fullmatch(r"[0-9a-f]{40}", str(key_id)):
            return False
        try:
            record = json.loads(self.fs.cat_file(self._key_path(key_id)))
        except FileNotFoundError:
            return False
        if not secrets.compare_digest(record["owner"], _digest(owner)):
            return False
        self.fs.rm_file(self._key_path(key_id))
        return True

    def allows(self, token: str, key: Any) -> bool:
        """Whether the API of the run under ``token`` answers a request with
        ``key`` (None: no key): a public run, or a key of its owner."""
        manifest = self.manifest(token)
        if not manifest.get("private"):
            return True
        owner = self.key_owner(key)
        return owner is not None and secrets.compare_digest(owner, manifest["owner"])
