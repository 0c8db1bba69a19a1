"""A run as a self-contained HTML report: summary, parameters, metrics and the
interactive figures, with plotly.js inlined so that it opens offline."""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import plotly.graph_objects as go

from app.ml import METRIC_LABELS, split_description

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #0f172a; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 0.3rem 0.8rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #64748b; font-size: 0.9rem; }
.figure { margin: 1rem 0; }
"""


def make_report_html(
    report: dict[str, Any],
    *,
    run_id: str,
    dataset: dict[str, Any],
    figures: Sequence[go.Figure],
) -> str:
    """The HTML document of one run. Every text from the data is escaped."""
    config = report["config"]
    e = html.escape
    title = f"Run {run_id}: {report['model_label']} on {dataset.get('name', '')}"
    features = (
        report["numeric_features"]
        + report["categorical_features"]
        + report.get("boolean_features", [])
        + report.get("date_features", [])
    )
    by_time = bool(config.get("time_column"))
    stratified = (
        config["stratify"] and not by_time and report["task"] == "classification"
    )
    data_rows = _rows(
        [
            ("Dataset", e(str(dataset.get("name", "")))),
            (
                "Rows × columns",
                f"{dataset.get('rows', 0):,} × {len(dataset.get('columns', []))}",
            ),
            ("Target", f"{e(config['target'])} ({e(report['task'])})"),
            (f"Features ({len(features)})", e(", ".join(features))),
        ]
    )
    model_rows = _rows(
        [("Model", f"{e(report['model_label'])} (<code>{e(config['model'])}</code>)")]
        + [(e(str(k)), e(_value(v))) for k, v in config["params"].items()]
        + [
            (
                "Hold-out",
                f"{config['test_size']:.0%} ({report['n_test']:,} rows), stratified: "
                f"{'yes' if stratified else 'no'}, "
                f"seed {config['random_state']}",
            ),
            ("Split", e(split_description(report))),
            (
                "Cross-validation",
                f"{report['cv_folds']} {'time-ordered ' * by_time}"
                f"folds on {report['n_train']:,} training rows",
            ),
            (
                "Training time",
                f"{report.get('total_seconds', report['fit_seconds']):.3g} s "
                f"(the final fit {report['fit_seconds']:.3g} s)",
            ),
        ]
    )
    metrics = "".join(
        f"<tr><td><code>{e(m['name'])}</code> {e(METRIC_LABELS.get(m['name'], ''))}"
        f"</td><td class='num'>{_num(m['holdout'])}</td>"
        f"<td class='num'>{_cv(m['cv_mean'], m['cv_std'])}</td>"
        f"<td class='num'>{_num(m.get('baseline'))}</td></tr>"
        for m in report["metrics"]
    )
    import plotly.io as pio

    figure_divs = "".join(
        "<div class='figure'>"
        + pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False},
        )
        + "</div>"
        for fig in figures
    )
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(title)}</title><style>{STYLE}</style>",
            f"<script>{_plotly_js()}</script></head><body>",
            f"<h1>{e(title)}</h1>",
            f'<p class="muted">Dashboard report, created {created}.</p>',
            f"<h2>Data</h2><table>{data_rows}</table>",
            _notes(dataset.get("notes", [])),
            f"<h2>Model and validation</h2><table>{model_rows}</table>",
            "<h2>Metrics</h2><table><tr><th>Metric</th><th>Hold-out</th>"
            f"<th>CV mean ± std</th><th>Baseline</th></tr>{metrics}</table>",
            _baseline(report.get("baseline")),
            _notes(report.get("notes", [])),
            _search(report.get("search")),
            f"<h2>Figures</h2>{figure_divs}",
            "</body></html>",
        ]
    )


def _search(search: dict[str, Any] | None) -> str:
    """A tuned run's search: its plan, space and leaderboard (escaped)."""
    if not search:
        return ""
    e = html.escape
    plan = search["plan"]
    best = search.get("best") or {}
    limit = plan.get("seconds")
    settings = _rows(
        [
            ("Strategy", e(str(plan["strategy"]))),
            ("Metric optimised", e(METRIC_LABELS.get(plan["metric"], plan["metric"]))),
            (
                "Candidates",
                f"{search['evaluated']:,} evaluations of {search['n_candidates']:,} "
                f"candidates in {search['seconds']:.3g} s"
                + (f" (time limit {limit:g} s)" if limit else ""),
            ),
            ("Seed", e(str(plan["random_state"]))),
            (
                "Best",
                (
                    f"candidate {best['index'] + 1}, CV "
                    f"{_cv(best.get('cv_mean'), best.get('cv_std'))}"
                    if best
                    else "—"
                ),
            ),
        ]
    )
    space = "".join(
        f"<tr><td><code>{e(str(d['name']))}</code></td><td>{e(str(d['kind']))}</td>"
        f"<td>{e(_range(d))}</td></tr>"
        for d in plan["space"]
    )
    board = "".join(
        f"<tr><td class='num'>{e(str(r['rank'] or '—'))}</td>"
        f"<td class='num'>{r['candidate']}</td><td class='num'>{r['round']}</td>"
        f"<td>{e(str(r['params']))}</td><td class='num'>{e(str(r['cv']))}</td>"
        f"<td class='num'>{r['fit_seconds']:.3g}</td><td>{e(str(r['status']))}</td>"
        "</tr>"
        for r in search.get("leaderboard") or ()
    )
    return (
        f"<h2>Hyper-parameter search</h2><table>{settings}</table>"
        "<table><tr><th>Parameter</th><th>Kind</th><th>Searched over</th></tr>"
        f"{space}</table>"
        "<table><tr><th>Rank</th><th>#</th><th>Round</th><th>Parameters</th>"
        f"<th>CV mean ± std</th><th>Fit (s)</th><th>Status</th></tr>{board}</table>"
    )


def _range(dim: dict[str, Any]) -> str:
    if dim["kind"] == "choice":
        return ", ".join(_value(o) for o in dim.get("options") or ())
    return f"{dim['low']:g} to {dim['high']:g}"


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs)


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
    return f'<ul class="muted">{items}</ul>'


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


def _value(value: Any) -> str:
    return "none" if value is None else str(value)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _cv(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4g} ± {std:.2g}" if std is not None else f"{mean:.4g}"


def _baseline(label: str | None) -> str:
    if not label:
        return ""
    return f"<p class='muted'>Baseline: {html.escape(label)}, same split and folds.</p>"
