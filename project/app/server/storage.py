"""The file system behind an fsspec URL, usable in every process.

The app is built once in gunicorn's master and forked into workers and jobs; an
asynchronous fsspec file system (gcsfs) refuses to be used in a process other
than the one that made it. This one is made again, once, in each process.
"""

from __future__ import annotations

import os
from typing import Any

import fsspec


class ForkSafeFileSystem:
    """The fsspec file system of ``url`` (``options`` go to it), and its root."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self._options = options
        self._fs, root = fsspec.core.url_to_fs(url, **options)
        self._pid = os.getpid()
        self.root = root.rstrip("/")
        protocol = self._fs.protocol
        protocols = protocol if isinstance(protocol, tuple) else (protocol,)
        self.local = "file" in protocols

    @property
    def fs(self) -> Any:
        """The file system, made again in a process forked since."""
        if self._pid != os.getpid():
            self._fs = fsspec.core.url_to_fs(
                self.url, skip_instance_cache=True, **self._options
            )[0]
            self._pid = os.getpid()
        return self._fs
