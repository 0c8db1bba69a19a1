"""The HTML report of a run: parses, holds every figure, opens offline, escapes."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest

from app import ml as F
from app.ui import figures
from app.ui.report import make_report_html


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


@pytest.fixture(scope="module")
def hostile_run():
    name = '<script>alert("x")</script>'
    frame = pd.DataFrame(
        {
            name: [float(i % 7) for i in range(120)],
            "b": [float(i % 5) for i in range(120)],
        }
    )
    frame["target"] = (frame[name] > 3).map({True: "<b>yes</b>", False: "no"})
    config = F.TrainConfig(
        target="target",
        features=(name, "b"),
        task="classification",
        model="logistic_regression",
        cv_folds=3,
    )
    return F.train_model(frame, config).report


def test_report_parses_and_holds_every_figure(hostile_run):
    figs = figures.make_run_figures(hostile_run)
    page = make_report_html(
        hostile_run,
        run_id="3",
        dataset={
            "name": "evil.csv",
            "rows": 120,
            "columns": ["a", "b"],
            "notes": ["<i>n</i>"],
        },
        figures=figs,
    )
    parser = _Collector()
    parser.feed(page)
    divs = [
        a
        for t, a in parser.tags
        if t == "div" and "plotly-graph-div" in a.get("class", "")
    ]
    assert len(divs) == len(figs)
    # Each figure's data is in the page (plotly writes one newPlot call per figure).
    assert page.count("Plotly.newPlot(") == len(figs)
    # plotly.js is inlined: no script is fetched from anywhere.
    assert not [a for t, a in parser.tags if t == "script" and a.get("src")]
    assert max(len(s) for s in parser.scripts) > 1_000_000
    assert "accuracy" in page and "Run 3" in page


def test_report_escapes_names_from_the_data(hostile_run):
    page = make_report_html(
        hostile_run,
        run_id="1",
        dataset={"name": "<img src=x onerror=alert(1)>", "rows": 1, "columns": []},
        figures=[],
    )
    body = page.split("</head>", 1)[1]
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
