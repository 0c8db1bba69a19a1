"""The tables of ``make loadtest`` (``tools/loadtest.py``): each run's summary,
and the two runs (without and with the abuser) side by side."""

from __future__ import annotations

from typing import Any

ABUSE = "abuse: "  # names of the abuser's requests (tools.loadpage.ABUSE)
TRAIN_FLOW = "train: click to result"  # a visitor's training, click to result


def entry(run: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """The statistics of one request type (or flow) of a run, {} when absent."""
    for item in run["locust"]["entries"]:
        if item["type"] == kind and item["name"] == name:
            return item
    return {}


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_summary(run: dict[str, Any]) -> None:
    """One run: every request type, statuses, faults, memory, the criteria."""
    figures, setup = run["figures"], run["setup"]
    kill, drained, memory = run["sigkill"], run["sigterm"], run["memory"]
    print()
    print(
        f"Load test {setup['label']}: {setup['users']} visitors for "
        f"{setup['duration_s']} s (pauses {setup['wait_s'][0]:g}-"
        f"{setup['wait_s'][1]:g} s) on {setup['base']} - gunicorn, 2 gthread "
        f"workers, {setup['cpus']} CPU cores, loopback; "
        + ", ".join(f"{k}={v}" for k, v in setup["server_settings"].items())
    )
    print(
        "Load average before / after (1 min): "
        f"{setup['load_average_before'][0]:.1f} / {setup['load_average_after'][0]:.1f}"
    )
    print()
    header = (
        f"{'request type':<36} {'requests':>8} {'fail':>5} {'p50':>7} {'p95':>7} "
        f"{'p99':>7} {'max':>7} {'rps':>6}"
    )
    print(header + "   (times in ms)")
    print("-" * len(header))
    order = {"GET": 0, "POST": 1, "FLOW": 2}
    entries = [e for e in run["locust"]["entries"] if e["type"] in order]
    for e in sorted(
        entries, key=lambda e: (e["name"].startswith(ABUSE), order[e["type"]])
    ):
        label = e["name"] if e["type"] != "FLOW" else f"[flow] {e['name']}"
        print(
            f"{label[:36]:<36} {e['requests']:>8,} {e['failures']:>5} "
            f"{_ms(e['p50_ms']):>7} {_ms(e['p95_ms']):>7} {_ms(e['p99_ms']):>7} "
            f"{_ms(e['max_ms']):>7} {e['rps']:>6.1f}"
        )
    print("-" * len(header))
    for group, got in sorted(figures["groups"].items(), reverse=True):
        print(
            f"{'HTTP: ' + group:<36} {got['requests']:>8,} {got['failures']:>5} "
            f"{_ms(got['p50_ms']):>7} {_ms(got['p95_ms']):>7} {_ms(got['p99_ms']):>7}"
        )
    print()
    statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(figures["statuses"].items()))
    print(f"HTTP statuses seen by the clients: {statuses}")
    print(
        f"5xx: {figures['five_xx_client']} (clients), "
        f"{figures['five_xx_server_log']} (server log)"
    )
    served = run["server_log"].get("server_latency_ms", {})
    print(
        "Time in the server (access log), p50 / p95 ms: "
        + "; ".join(
            f"{group} {_ms(got['p50_ms'])} / {_ms(got['p95_ms'])} "
            f"({got['requests']:,} requests)"
            for group, got in sorted(served.items(), reverse=True)
        )
    )
    cut = figures["connection_errors_at_kill"]
    print(
        f"Connections cut by the SIGKILL: {len(cut)} (sent again once: "
        f"{sum(1 for e in cut if e['retried'])}); failed steps after such a cut: "
        f"{len(figures['failed_steps_after_kill'])}"
    )
    if cut:
        print(
            f"  (the last of them failed {figures['cut_failed_after_s']:.1f} s "
            "after the kill)"
        )
    recycled = figures.get("connection_errors_at_recycle") or []
    print(
        f"Connections cut as a worker restarted after its max requests, answered "
        f"when sent again: {len(recycled)}"
    )
    print(
        f"Other connection errors: {len(figures['connection_errors_elsewhere'])}; "
        f"failed steps: {len(figures['failed_steps'])}"
    )
    for failure in figures["failed_steps"][:10]:
        why = failure["why"].splitlines()[0][:200]
        print(f"  - {failure['visitor']} / {failure['step']}: {why}")
    print(
        f"Lost sessions: {figures['lost_sessions']} ({figures['visitors']} visitors, "
        f"{figures['rounds']} rounds completed, "
        f"{figures['trainings']['confirmed']} trainings confirmed)"
    )
    for visitor, reasons in list(figures["lost_session_reasons"].items())[:10]:
        print(f"  - {visitor}: {reasons[0][:200]}")
    stuck = figures["stuck_visitors"]
    print(
        f"Visitors stuck in a step at the end (no news): {len(stuck)}; the longest "
        f"step still going then: {figures.get('longest_open_step_s') or 0:.0f} s"
    )
    for visitor, where in list(stuck.items())[:10]:
        print(
            f"  - {visitor}: {where['step']} ({where['request']}) "
            f"for {where['for_s']:.0f} s, no news for {where['no_news_for_s']:.0f} s"
        )
    print(
        f"Memory of the process tree: peak PSS {memory['peak_pss_mib']:,.0f} MiB "
        f"(at {memory['peak_pss_at_s']:.0f} s), peak RSS "
        f"{memory['peak_rss_mib']:,.0f} MiB; cache directory up to "
        f"{memory['peak_cache_dir_mib']:,.0f} MiB; PSS + cache directory up to "
        f"{memory['peak_pss_and_cache_mib']:,.0f} MiB"
    )
    if kill.get("skipped"):
        print("SIGKILL: skipped (--no-kill)")
    elif "replaced_in_s" in kill:
        print(
            f"SIGKILL of worker {kill['pid']} at {kill['at_s']:.1f} s into the run: "
            f"replaced by {', '.join(map(str, kill['new_pid']))} in "
            f"{kill['replaced_in_s'] * 1000:.0f} ms; workers "
            f"{kill['workers_before']} -> {kill['workers_after']}"
        )
    else:
        print(f"SIGKILL: {kill.get('error', 'not done')}")
    exited = drained["exited_in_s"]
    print(
        f"SIGTERM with {drained['in_flight_at_sigterm']} requests in flight: "
        + (f"exited in {exited:.2f} s" if exited is not None else "did not exit")
        + f" (limit {drained['limit_s']:g} s), exit code {drained['exit_code']}, "
        f"{drained['in_flight_answered']}/{drained['in_flight_at_sigterm']} answered, "
        f"{len(drained['processes_left'])} processes left"
    )
    if figures["abuse"]:
        at_end = figures.get("abuser_at_the_end") or {}
        print(
            f"The abuser's sends and what they got ({at_end.get('loops', 0)} loops "
            "done"
            + (
                f"; still sending '{at_end['step']}' at the end, for "
                f"{at_end['for_s']:.0f} s)"
                if at_end
                else ")"
            )
            + ":"
        )
        for kind, got in figures["abuse"].items():
            outcomes = ", ".join(
                f"{name} {o['count']}" for name, o in got["outcomes"].items()
            )
            print(f"  - {kind}: {got['sent']} sent: {outcomes}")
            for name, o in got["outcomes"].items():
                if o["said"]:
                    print(f"      {name}: {o['said'][:220]!r}")
    print()
    for name, ok in figures["criteria"].items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")


def print_comparison(
    runs: dict[str, dict[str, Any]], comparison: dict[str, Any], ceiling: float
) -> None:
    """The two runs side by side."""
    without, with_abuser = runs["without"], runs["with_abuser"]
    print()
    print("Side by side (the visitors' figures; the abuser's requests are apart)")
    header = f"{'':<40} {'without':>14} {'with abuser':>14} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for row in comparison["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        mark = ""
        if row["passed"] is not None:
            mark = (
                f"  {'PASS' if row['passed'] else 'FAIL'} (<= {comparison['limit']:g}x)"
            )
        print(
            f"{row['figure']:<40} {_ms(row['without']):>14} {_ms(row['with']):>14} "
            f"{ratio:>7}{mark}"
        )
    both = (without, with_abuser)

    def pair(fn: Any) -> str:
        return "".join(f" {fn(r):>14}" for r in both)

    print("-" * len(header))
    names = sorted(
        {
            e["name"]
            for r in both
            for e in r["locust"]["entries"]
            if e["type"] in ("GET", "POST") and not e["name"].startswith(ABUSE)
        }
    )
    print(f"{'p50 / p95 per request type (ms)':<40}")
    for name in names:
        cells = []
        for r in both:
            e = entry(r, "POST", name) or entry(r, "GET", name)
            cells.append(f"{_ms(e.get('p50_ms'))} / {_ms(e.get('p95_ms'))}")
        print(f"  {name[:38]:<38} {cells[0]:>14} {cells[1]:>14}")
    upload = [entry(r, "FLOW", "upload: send to result") for r in both]
    print(
        f"  {'[flow] upload: send to result':<38} "
        + " ".join(
            f"{_ms(u.get('p50_ms'))} / {_ms(u.get('p95_ms'))}".rjust(14) for u in upload
        )
    )
    print("-" * len(header))
    print(
        f"{'5xx (clients + server log)':<40}"
        + pair(
            lambda r: r["figures"]["five_xx_client"]
            + r["figures"]["five_xx_server_log"]
        )
    )
    print(f"{'lost sessions':<40}" + pair(lambda r: r["figures"]["lost_sessions"]))
    print(
        f"{'failed steps (visitors)':<40}"
        + pair(lambda r: len(r["figures"]["failed_steps"]))
    )
    print(
        f"{'peak PSS / RSS of the tree (MiB)':<40}"
        + pair(
            lambda r: f"{r['memory']['peak_pss_mib']:,.0f} / "
            f"{r['memory']['peak_rss_mib']:,.0f}"
        )
    )
    print(
        f"{'peak cache directory (MiB)':<40}"
        + pair(lambda r: f"{r['memory']['peak_cache_dir_mib']:,.0f}")
    )
    print(
        f"{'peak PSS + cache directory (MiB)':<40}"
        + pair(lambda r: f"{r['memory']['peak_pss_and_cache_mib']:,.0f}")
        + f"  ceiling {ceiling:,.0f}"
    )
