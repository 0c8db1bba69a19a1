#!/usr/bin/env python3
"""Create the service's uptime check and alert policies in Cloud Monitoring (once).

    python3 deploy/monitoring.py --service dashboard --region europe-west1 \\
        [--project PROJECT] [--email you@example.com] [--dry-run]

Creates, unless one with the same display name exists already (so it is safe to
run again; change a policy in the console or delete it and run this again):
- an uptime check on ``https://SERVICE-URL/healthz`` every 5 minutes from several
  regions, expecting ``"status"`` in the answer;
- alert policies on the Cloud Run service: 5xx responses above ``--error-ratio``
  of all requests, 95th-percentile latency above ``--latency-ms``, and the uptime
  check failing;
- with ``--email``, an email notification channel the policies notify (or name
  existing channels with ``--channel projects/P/notificationChannels/ID``).

Needs gcloud (with the beta component for ``--email``) and roles/monitoring.editor
plus roles/run.viewer. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import shutil

# subprocess runs gcloud with a fixed argv, never a shell.
import subprocess  # nosec B404
import sys
import urllib.parse
from typing import Any


class Gcloud:
    """Runs gcloud, or in a dry run prints the commands that write."""

    def __init__(self, project: str | None, dry_run: bool) -> None:
        self.project = [f"--project={project}"] if project else []
        self.dry_run = dry_run

    def __call__(self, *args: str, write: bool = False) -> str:
        argv = [*args, *self.project]
        if write and self.dry_run:
            print("would run: gcloud " + " ".join(argv))
            return ""
        exe = shutil.which("gcloud")
        if exe is None:
            raise SystemExit("monitoring: gcloud is not on PATH")
        # A fixed argv, no shell.
        proc = subprocess.run(  # nosec B603
            [exe, *argv], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"monitoring: gcloud {' '.join(argv)} failed: {proc.stderr.strip()}"
            )
        return proc.stdout.strip()

    def json(self, *args: str) -> Any:
        out = self(*args, "--format=json")
        return json.loads(out) if out else []


def cloud_run_filter(service: str, metric: str, extra: str = "") -> str:
    text = (
        f'resource.type = "cloud_run_revision" AND '
        f'resource.labels.service_name = "{service}" AND '
        f'metric.type = "run.googleapis.com/{metric}"'
    )
    return f"{text} AND {extra}" if extra else text


def _aggregation(aligner: str, reducer: str, group_by: str) -> list[dict[str, Any]]:
    return [
        {
            "alignmentPeriod": "300s",
            "perSeriesAligner": aligner,
            "crossSeriesReducer": reducer,
            "groupByFields": [group_by],
        }
    ]


def _policy(
    name: str, condition: dict[str, Any], doc: str, channels: list[str]
) -> dict[str, Any]:
    return {
        "displayName": name,
        "combiner": "OR",
        "enabled": True,
        "conditions": [{"displayName": name, "conditionThreshold": condition}],
        "notificationChannels": channels,
        "alertStrategy": {"autoClose": "1800s"},
        "documentation": {"content": doc, "mimeType": "text/markdown"},
    }


def policies(
    service: str,
    check_id: str,
    error_ratio: float,
    latency_ms: int,
    channels: list[str],
) -> list[dict[str, Any]]:
    """The three alert policies, as Cloud Monitoring's AlertPolicy JSON."""
    by_service = "resource.label.service_name"
    errors = _policy(
        f"{service}: 5xx responses above {error_ratio:.0%}",
        {
            "filter": cloud_run_filter(
                service, "request_count", 'metric.labels.response_code_class = "5xx"'
            ),
            "denominatorFilter": cloud_run_filter(service, "request_count"),
            "aggregations": _aggregation("ALIGN_RATE", "REDUCE_SUM", by_service),
            "denominatorAggregations": _aggregation(
                "ALIGN_RATE", "REDUCE_SUM", by_service
            ),
            "comparison": "COMPARISON_GT",
            "thresholdValue": error_ratio,
            "duration": "300s",
            "trigger": {"count": 1},
        },
        f"More than {error_ratio:.0%} of the requests to `{service}` failed with a "
        "5xx status for 5 minutes. Cloud Run > the service > Logs shows them; "
        "README, 'Deploy', says how to roll back.",
        channels,
    )
    latency = _policy(
        f"{service}: p95 latency above {latency_ms} ms",
        {
            "filter": cloud_run_filter(service, "request_latencies"),
            "aggregations": _aggregation(
                "ALIGN_PERCENTILE_95", "REDUCE_MAX", by_service
            ),
            "comparison": "COMPARISON_GT",
            "thresholdValue": latency_ms,
            "duration": "300s",
            "trigger": {"count": 1},
        },
        f"The 95th percentile of `{service}`'s request latency stayed above "
        f"{latency_ms} ms for 5 minutes (trainings on big data are slow by nature; "
        "look at which requests in the logs).",
        channels,
    )
    uptime = _policy(
        f"{service}: /healthz uptime check failing",
        {
            "filter": (
                'metric.type = "monitoring.googleapis.com/uptime_check/check_passed"'
                ' AND resource.type = "uptime_url"'
                f' AND metric.labels.check_id = "{check_id}"'
            ),
            "aggregations": _aggregation(
                "ALIGN_NEXT_OLDER", "REDUCE_COUNT_FALSE", "resource.label.host"
            ),
            "comparison": "COMPARISON_GT",
            "thresholdValue": 1,
            "duration": "600s",
            "trigger": {"count": 1},
        },
        f"`GET /healthz` on `{service}` failed from more than one region for "
        "10 minutes.",
        channels,
    )
    return [errors, latency, uptime]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--project", help="default: gcloud's configured project")
    parser.add_argument("--email", help="create (or reuse) an email channel")
    parser.add_argument(
        "--channel", action="append", default=[], help="existing channel name"
    )
    parser.add_argument("--error-ratio", type=float, default=0.05)
    parser.add_argument("--latency-ms", type=int, default=3000)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    gcloud = Gcloud(args.project, args.dry_run)

    project = args.project or gcloud("config", "get-value", "project")
    url = gcloud(
        "run",
        "services",
        "describe",
        args.service,
        f"--region={args.region}",
        "--format=value(status.url)",
    )
    host = urllib.parse.urlsplit(url).hostname
    if not host or not project:
        raise SystemExit(f"monitoring: no URL or project ({url!r}, {project!r})")

    channels = list(args.channel)
    if args.email:
        existing = gcloud.json("beta", "monitoring", "channels", "list")
        found = [
            c["name"]
            for c in existing
            if c.get("type") == "email"
            and (c.get("labels") or {}).get("email_address") == args.email
        ]
        if found:
            channels.append(found[0])
            print(f"channel: reusing {found[0]}")
        else:
            name = gcloud(
                "beta",
                "monitoring",
                "channels",
                "create",
                f"--display-name={args.service} alerts ({args.email})",
                "--type=email",
                f"--channel-labels=email_address={args.email}",
                "--format=value(name)",
                write=True,
            )
            channels.append(name or "projects/PROJECT/notificationChannels/NEW")
            print(f"channel: created {name or '(dry run)'}")

    check_name = f"{args.service} /healthz"
    checks = gcloud.json("monitoring", "uptime", "list-configs")
    found_check = [c["name"] for c in checks if c.get("displayName") == check_name]
    if found_check:
        check = found_check[0]
        print(f"uptime check: exists, {check}")
    else:
        check = gcloud(
            "monitoring",
            "uptime",
            "create",
            check_name,
            "--resource-type=uptime-url",
            f"--resource-labels=host={host},project_id={project}",
            "--protocol=https",
            "--port=443",
            "--path=/healthz",
            "--period=5",
            "--timeout=10",
            "--matcher-content=status",
            "--matcher-type=contains-string",
            "--format=value(name)",
            write=True,
        )
        print(f"uptime check: created {check or '(dry run)'}")
    check_id = (check or "CHECK_ID").rsplit("/", 1)[-1]

    existing_policies = {
        p.get("displayName") for p in gcloud.json("monitoring", "policies", "list")
    }
    for policy in policies(
        args.service, check_id, args.error_ratio, args.latency_ms, channels
    ):
        if policy["displayName"] in existing_policies:
            print(f"alert policy: exists, {policy['displayName']}")
            continue
        gcloud(
            "monitoring",
            "policies",
            "create",
            f"--policy={json.dumps(policy, separators=(',', ':'))}",
            write=True,
        )
        print(f"alert policy: created {policy['displayName']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
