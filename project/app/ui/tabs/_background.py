"""How a background callback shows itself: a progress bar in its box, a cancel
button; and how often the page asks how it is doing."""

from __future__ import annotations

from typing import Any, Sequence

from dash import Input, Output

from app.ui.components import HIDDEN, SHOWN

#: The page asks about a running job this long after each answer. The server
#: holds a poll of a job that has not ended for up to as long again, answering as
#: soon as the result is written (``app.server.jobs.POLL_WAIT_SECONDS``): a result
#: shows a few milliseconds after the job ends once the first poll is in, and a
#: job that goes on is asked about every ~0.8 s. Asked more often (150 ms), the
#: polls of visitors queued behind others took the CPU their jobs needed.
JOB_POLL_MS = 400
#: A background callback with no progress bar (the figure it fills shows loading).
PLAIN = {"background": True, "interval": JOB_POLL_MS}


def with_progress(
    bar: str, box: str, cancel: str | None = None, running: Sequence[Any] = ()
) -> dict[str, Any]:
    """The ``app.callback`` keywords of a background job whose progress, a
    ``(value, label)`` pair, shows in ``bar`` inside ``box`` (shown while it runs),
    stopped by the ``cancel`` button; ``running`` adds more running outputs."""
    shown = [(Output(box, "style"), SHOWN, HIDDEN), *running]
    options: dict[str, Any] = {
        **PLAIN,
        "progress": [Output(bar, "value"), Output(bar, "label")],
        "progress_default": [0, ""],
        "running": shown,
    }
    if cancel:
        shown.append((Output(cancel, "disabled"), False, True))
        options["cancel"] = [Input(cancel, "n_clicks")]
    return options
