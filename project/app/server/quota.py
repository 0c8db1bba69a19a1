"""A session's quota: what its record counts, what goes to make room, and the
sentences a visitor reads about it (sizes, run numbers, what was removed)."""

from __future__ import annotations

from typing import Any

from app.server.backends import SessionExpired

MB = 1024 * 1024


class QuotaExceeded(SessionExpired):
    """An item does not fit in the session's storage quota (message for the visitor).

    A subclass of :class:`SessionExpired`, so that the callbacks show its message.
    """


def mb_text(size: float) -> str:
    """A size for the visitor: "512 MB", "3.5 MB", "40 KB"."""
    value = size / MB
    if value >= 10:
        return f"{value:,.0f} MB"
    return f"{value:.1f} MB" if value >= 0.1 else f"{size / 1024:.0f} KB"


def numbers_text(numbers: list[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` as "1–3, 5, 7 and 8"."""
    spans: list[list[int]] = []
    for n in sorted(set(numbers)):
        if spans and n == spans[-1][-1] + 1:
            spans[-1].append(n)
        else:
            spans.append([n])
    parts: list[str] = []
    for span in spans:
        if len(span) > 2:
            parts.append(f"{span[0]}–{span[-1]}")
        else:
            parts.extend(str(n) for n in span)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def removed_text(entries: list[dict[str, Any]], why: str) -> str:
    """One sentence: which runs and datasets were removed, and why."""
    if not entries:
        return ""
    runs = [e["number"] for e in entries if e["kind"] == "run"]
    data = [e for e in entries if e["kind"] == "data"]
    parts = []
    if runs:
        parts.append(("Run " if len(runs) == 1 else "Runs ") + numbers_text(runs))
    if len(data) == 1:
        name = data[0].get("name")
        parts.append(f"the earlier dataset {name}" if name else "the earlier dataset")
    elif data:
        parts.append(f"{len(data)} earlier datasets")
    subject = " and ".join(parts)
    verb = "was" if len(entries) == 1 else "were"
    return f"{subject[0].upper()}{subject[1:]} {verb} removed {why}."


def used(record: dict[str, Any]) -> int:
    """Bytes a session record counts: what it holds and what it published."""
    held = sum(int(e["bytes"]) for e in record.get("held", {}).values())
    return held + sum(int(e.get("bytes") or 0) for e in record.get("shares", ()))


def below_max(record: dict[str, Any], kind: str, what: str, most: int) -> list:
    """The record's ``kind`` entries; QuotaExceeded when there are ``most``."""
    kept = list(record.get(kind, ()))
    if len(kept) >= most:
        raise QuotaExceeded(
            f"This session has {len(kept)} {what}, the most it may hold; "
            "revoke one first."
        )
    return kept


def quota_text(quota: int | None) -> str:
    """The quota as the visitor reads it: "128 MB"."""
    quota = quota or 0
    return f"{quota / MB:g} MB" if quota >= MB else mb_text(quota)


def make_room(
    record: dict[str, Any],
    size: int,
    keep: set[str],
    what: str,
    hint: str,
    quota: int | None,
) -> list[dict[str, Any]]:
    """Drop the session's oldest items until ``size`` more bytes fit ``quota``.

    Runs go oldest first; a dataset goes once it is neither current, in
    ``keep``, nor used by a run still kept. Returns the dropped entries (the
    caller deletes their data once the record is saved).

    Raises
    ------
    QuotaExceeded
        The item does not fit even with everything else dropped.
    """
    if quota is None:
        return []
    limit = f"this session's {quota_text(quota)}"
    if size > quota:
        raise QuotaExceeded(
            f"{what} needs {mb_text(size)} of storage, more than {limit}. {hint}"
        )
    held = record["held"]
    current = (record.get("dataset") or {}).get("frame")
    keep = keep | {current}
    total = used(record)
    dropped = []
    while total + size > quota:
        in_use = {e.get("data") for e in held.values() if e["kind"] == "run"}
        victim = next(
            (
                name
                for name, entry in held.items()
                if name not in keep and not (entry["kind"] == "data" and name in in_use)
            ),
            None,
        )
        if victim is None:
            raise QuotaExceeded(
                f"{what} needs {mb_text(size)} of storage; with the data in use "
                f"({mb_text(total)}) that is more than {limit}. {hint}"
            )
        entry = held.pop(victim)
        total -= entry["bytes"]
        dropped.append(entry)
    return dropped


def notice(
    over_quota: list[dict], over_count: list[dict], quota: int | None, max_runs: int
) -> str:
    """What the visitor is told about runs and datasets removed for space."""
    return " ".join(
        text
        for text in (
            removed_text(
                over_quota,
                f"to stay within this session's {quota_text(quota)} of storage",
            ),
            removed_text(over_count, f"to keep this session's {max_runs} newest runs"),
        )
        if text
    )
