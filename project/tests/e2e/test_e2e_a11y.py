"""Accessibility: axe-core on every tab of the page, before and after training.

A violation of impact "critical" or "serious" fails the test, and so does one of the
page-level rules a screen-reader user navigates by (one main landmark, an h1, all
content in landmarks, headings in order), unless the element at fault is in
``ALLOWED``: third-party markup the app cannot change, named with its rule, a CSS
selector the element matches and the reason. No rule is switched off wholesale.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import pytest
from _ui import TIMEOUT
from _ui import tab as open_tab
from _ui import train
from axe_selenium_python import Axe

from app.ui import ids

FAILING_IMPACTS = {"critical", "serious"}

# Moderate in axe, but what a page needs to be navigable: always enforced.
ALWAYS_ENFORCED = {
    "landmark-one-main",
    "page-has-heading-one",
    "region",
    "heading-order",
}


class Allowed(NamedTuple):
    rule: str  # the axe rule id
    selector: str  # a CSS selector the element at fault matches
    reason: str


# Third-party markup that fails a rule; a node is allowed only when both its rule
# and its element match. Re-check these when a component library is upgraded.
# fmt: off
ALLOWED: tuple[Allowed, ...] = (  # rule, selector, reason
    Allowed("aria-valid-attr-value", f"#{ids.MAIN_TABS} .nav-link, .tab-content > .tab-pane", "dash-bootstrap-components 2.0.4 Tabs renders its Nav.Link without an eventKey, so react-bootstrap names every tab link ...-tab-null: aria-controls and the panes' aria-labelledby point at nothing"),  # noqa: E501
    Allowed("duplicate-id-active", f"#{ids.MAIN_TABS} .nav-link", "the same dbc.Tabs bug: all four tab links get the one id ...-tab-null"),  # noqa: E501
    Allowed("aria-required-children", ".ag-root-wrapper [role=rowgroup]", "ag-grid (dash-ag-grid 35) keeps its full-width and sticky-row layers as role=rowgroup containers with no rows in them"),  # noqa: E501
    Allowed("region", "#js-plotly-tester", "plotly.js appends an off-screen SVG (#js-plotly-tester) to body to measure text; it shows nothing, yet axe-core 3.1.1 counts it as content outside landmarks"),  # noqa: E501
    Allowed("autocomplete-valid", f"#{ids.DATA_UPLOAD} input[type=file], #{ids.PREDICT_UPLOAD} input[type=file]", "dcc.Upload hard-codes autocomplete=off on its file input; axe-core 3.1.1 accepts 'off' only on text inputs (later axe versions accept it anywhere)"),  # noqa: E501
)
# fmt: on

# Each tab, and what shows that its content is there: texts (selector, text) and
# elements that must be rendered; then no callback may be running.
TABS = (
    (
        "Data",
        (),
        (
            f"#{ids.DATA_PREVIEW} .ag-row",
            f"#{ids.DATA_SUMMARY} .ag-row",
            f"#{ids.DATA_CORR_GRAPH} .main-svg",
        ),
    ),
    (
        "Results",
        (),
        (f"#{ids.METRICS_TABLE} tr[data-metric]", f"#{ids.EVAL_FIGURES} .main-svg"),
    ),
    (
        "Explain",
        (
            (f"#{ids.EXPLAIN_SUMMARY}", "Explaining run 1"),
            (f"#{ids.EXPLAIN_PDP}", "Partial dependence"),
        ),
        (),
    ),
    (
        "Predict",
        (
            (f"#{ids.PREDICT_SUMMARY}", "Predicting with run 1"),
            (f"#{ids.WHATIF_CONTRIBUTIONS}", "What moved"),
        ),
        (f"#{ids.WHATIF_PREDICTION} .whatif-value",),
    ),
)

# Before training, the other tabs show what to do first.
UNTRAINED_TABS = (
    TABS[0],
    ("Results", ((f"#{ids.METRICS_TABLE}", "Train a model"),), ()),
    ("Explain", ((f"#{ids.EXPLAIN_SUMMARY}", "Train a model"),), ()),
    ("Predict", ((f"#{ids.PREDICT_SUMMARY}", "Train a model"),), ()),
)

# The pages checked, as (query, data status, model, trained): the default (iris,
# logistic regression: classification, a choice parameter), before and after
# training, and a synthetic regression (its generator's inputs shown, linear
# regression's yes/no parameter).
PAGES = {
    "iris": ("", "150 rows", "Logistic regression", True),
    "iris-untrained": ("", "150 rows", "Logistic regression", False),
    "regression": (
        "?dataset=regression&model=linear_regression",
        "1,000 rows",
        "Linear regression",
        True,
    ),
}

# axe.run(context, options), answering {error} instead of hanging if it fails.
_RUN_JS = """
const [context, options, done] = arguments;
axe.run(context, options).then(done, (err) => done({error: String(err)}));
"""

# One rule run with the elements matching the given selectors taken out of the
# page, then put back where they were (axe-core 3.1.1's page-level rules look at
# the whole document whatever the context excludes).
_RUN_WITHOUT_JS = """
const [rule, selectors, done] = arguments;
const taken = selectors
  .flatMap((sel) => Array.from(document.querySelectorAll(sel)))
  .map((el) => [el, el.parentNode, el.nextSibling]);
taken.forEach(([el]) => el.remove());
const putBack = () => taken.forEach(([el, parent, next]) => {
  parent.insertBefore(el, next);
});
axe.run(document, {runOnly: {type: "rule", values: [rule]}}).then(
  (results) => { putBack(); done(results); },
  (err) => { putBack(); done({error: String(err)}); },
);
"""

# For each node's target, which allowed selectors its element matches.
_MATCHES_JS = """
const [targets, selectors] = arguments;
return targets.map((target) => {
  const el = document.querySelector(target[target.length - 1]);
  return selectors.map((sel) => Boolean(el && el.matches(sel)));
});
"""

_BUSY_JS = """
return Boolean(document.querySelector('[data-dash-is-loading="true"]'));
"""


def _settle(browser, timeout: float = TIMEOUT) -> None:
    """Wait until no callback has been running for a moment."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 4 and time.monotonic() < deadline:
        quiet = 0 if browser.driver.execute_script(_BUSY_JS) else quiet + 1
        time.sleep(0.25)


def _axe(driver, context: Any, options: dict[str, Any]) -> dict[str, Any]:
    results = driver.execute_async_script(_RUN_JS, context, options)
    assert "error" not in results, f"axe-core failed: {results['error']}"
    return results


def _allowed(driver, rule: str, nodes: list[dict[str, Any]]) -> list[bool]:
    """Whether each node of a violation of ``rule`` is allowed.

    A node's element is allowed when it matches an allowed selector of the rule. A
    page-level rule (region) reports the whole page, not the content at fault: its
    node is allowed when the rule passes with the allowed elements taken out."""
    selectors = [a.selector for a in ALLOWED if a.rule == rule]
    if not selectors:
        return [False] * len(nodes)
    targets = [n["target"] for n in nodes]
    if targets == [["html"]]:
        results = driver.execute_async_script(_RUN_WITHOUT_JS, rule, selectors)
        assert "error" not in results, f"axe-core failed: {results['error']}"
        return [not results["violations"]]
    matched = driver.execute_script(_MATCHES_JS, targets, selectors)
    return [any(flags) for flags in matched]


def _violations(browser) -> dict[tuple[str, str], dict[str, Any]]:
    """Run axe on the page as it is: the violations that count and are not
    allowed, by (rule, target)."""
    driver = browser.driver
    driver.set_script_timeout(120)
    Axe(driver).inject()  # the axe-core that axe-selenium-python bundles
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for violation in _axe(driver, {"include": [["html"]]}, {})["violations"]:
        rule = violation["id"]
        if (
            violation.get("impact") not in FAILING_IMPACTS
            and rule not in ALWAYS_ENFORCED
        ):
            continue
        nodes = violation["nodes"]
        for node, allowed in zip(nodes, _allowed(driver, rule, nodes)):
            if allowed:
                continue
            target = " ".join(node["target"])
            found[(rule, target)] = {
                "impact": node.get("impact") or violation.get("impact"),
                "help": violation["help"],
                "url": violation["helpUrl"],
                "html": node.get("html", "")[:160],
                "why": " ".join((node.get("failureSummary") or "").split())[:240],
            }
    return found


def _report(found: dict[tuple[str, str], dict[str, Any]]) -> str:
    lines = [f"{len(found)} accessibility violations (rule, impact, target, help):"]
    for (rule, target), v in sorted(found.items()):
        lines.append(
            f"- {rule} ({v['impact']}) on {', '.join(v['tabs'])}: {target}\n"
            f"    {v['help']} ({v['url']})\n    {v['why']}\n    {v['html']}"
        )
    return "\n".join(lines)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_tab_has_no_serious_accessibility_violation(dash_duo, dash_app, page):
    query, status, model, trained = PAGES[page]
    dash_duo.start_server(dash_app)
    if query:
        dash_duo.wait_for_page(f"{dash_duo.server_url}/{query}")
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", status, TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", model, TIMEOUT)
    if trained:
        train(dash_duo, 1)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for label, texts, elements in TABS if trained else UNTRAINED_TABS:
        open_tab(dash_duo, label)
        for selector, text in texts:
            dash_duo.wait_for_contains_text(selector, text, TIMEOUT)
        for element in elements:
            dash_duo.wait_for_element(element, TIMEOUT)
        _settle(dash_duo)
        for key, violation in _violations(dash_duo).items():
            tabs = found.get(key, {}).get("tabs", [])
            found[key] = dict(violation, tabs=tabs + [label])
    assert not found, _report(found)
