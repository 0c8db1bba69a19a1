#!/usr/bin/env python3
"""Smoke-test a deployed Dashboard: is it up, and does it serve the app?

    python3 deploy/smoke.py https://dashboard-abc123-ew.a.run.app

Checks, retrying for a while (a new revision may be cold-starting):
- ``GET /healthz`` answers 200 with {"status": "ok"};
- ``GET /`` answers 200 with the Dash page;
- ``GET /_dash-layout`` answers 200 with JSON (the layout the page asks for).
Prints one line per check and the response time; exits 1 if any check fails.
Standard library only.

Credentials, from the environment (never the command line, never printed):
``SMOKE_ID_TOKEN``, an identity token for a service that requires one (sent as
``X-Serverless-Authorization``, which Cloud Run checks and removes, leaving
``Authorization`` to the app), and ``SMOKE_LOGIN``, ``user:password`` of the
app's login (sent as HTTP Basic).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def fetch(url: str, timeout: float) -> tuple[int, str, float]:
    """GET ``url``: (status, body, seconds); status 0 when there is no answer."""
    start = time.monotonic()
    request = urllib.request.Request(url, headers=credentials())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # nosec B310
            body = resp.read().decode("utf-8", "replace")
            return resp.status, body, time.monotonic() - start
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace"), time.monotonic() - start
    except (urllib.error.URLError, OSError) as err:
        return 0, str(err), time.monotonic() - start


def credentials() -> dict[str, str]:
    """The request headers: who is asking, with the credentials the environment
    gives (see the module's docstring)."""
    headers = {"User-Agent": "dashboard-smoke"}
    token = os.environ.get("SMOKE_ID_TOKEN", "").strip()
    if token:
        headers["X-Serverless-Authorization"] = f"Bearer {token}"
    login = os.environ.get("SMOKE_LOGIN", "")
    if login:
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
    return headers


def _is_health(body: str) -> bool:
    try:
        return json.loads(body) == {"status": "ok"}
    except ValueError:
        return False


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


CHECKS = (
    ("/healthz", "health answers {'status': 'ok'}", _is_health),
    ("/", "the page is the Dash app", lambda body: "_dash-config" in body),
    ("/_dash-layout", "the layout is JSON", _is_json),
)


def run(base_url: str, attempts: int, delay: float, timeout: float) -> int:
    if urllib.parse.urlsplit(base_url).scheme not in {"http", "https"}:
        print(f"smoke: not an http(s) URL: {base_url!r}", file=sys.stderr)
        return 2
    base = base_url.rstrip("/")
    failed = 0
    for path, what, body_ok in CHECKS:
        status, body, took = 0, "", 0.0
        for attempt in range(1, attempts + 1):
            status, body, took = fetch(base + path, timeout)
            if status == 200 and body_ok(body):
                break
            if attempt < attempts:
                time.sleep(delay)
        ok = status == 200 and body_ok(body)
        failed += not ok
        detail = f"{status or 'no answer'} in {took:.2f} s, attempt {attempt}"
        if not ok:
            detail += f": {body.strip()[:200]!r}"
        print(f"{'PASS' if ok else 'FAIL'}  GET {path}: {what}  ({detail})", flush=True)
    print(f"smoke: {len(CHECKS) - failed} passed, {failed} failed ({base})")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the service URL, e.g. from deploy/deploy.sh")
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--delay", type=float, default=6.0, help="seconds between")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request")
    args = parser.parse_args(argv)
    return run(args.url, args.attempts, args.delay, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
