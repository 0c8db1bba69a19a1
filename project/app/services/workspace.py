"""A visitor's workspace as a whole: forgetting all of it at once."""

from __future__ import annotations

import logging

from app.server.shares import Shares
from app.server.store import SessionStore
from app.services import tuning

log = logging.getLogger(__name__)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def forget(store: SessionStore, shares: Shares | None, sid: str) -> str:
    """Delete everything the session holds on this server: its datasets, runs,
    explanations, latest search, published links and API keys. Returns the
    sentence that says what was deleted.

    Raises SessionExpired for a malformed session id or an unreachable store,
    OSError when the published runs' storage fails (before anything is deleted:
    the links go first, so that none outlives the data it came from)."""
    kept = store.session(sid)
    links = [s["token"] for s in kept.get("shares", ())]
    keys = [k["id"] for k in kept.get("keys", ())]
    if shares is not None:
        for token in links:
            shares.revoke(token, sid)
        for key_id in keys:
            shares.revoke_key(key_id, sid)
    record = store.forget_session(sid)
    tuning.forget_search(store, sid)
    held = list(record.get("held", {}).values())
    runs = sum(1 for e in held if e["kind"] == "run")
    data = len(held) - runs
    parts = [
        _count(data, "dataset", "datasets"),
        _count(runs, "run", "runs"),
    ]
    if links:
        parts.append(_count(len(links), "published link", "published links"))
    if keys:
        parts.append(_count(len(keys), "API key", "API keys"))
    log.info(
        "a visitor forgot their data (datasets %d, runs %d, links %d, keys %d)",
        data,
        runs,
        len(links),
        len(keys),
    )
    listed = ", ".join(parts[:-1]) + " and " + parts[-1]
    return (
        f"Your data was deleted from this server: {listed}. "
        "This page starts again with nothing kept."
    )
