"""Sentences a visitor reads about what their session holds: sizes, run numbers,
what was removed to make room."""

from __future__ import annotations

from typing import Any

MB = 1024 * 1024


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
