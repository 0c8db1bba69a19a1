"""The pipeline's deploy, push, smoke, cleanup and monitoring scripts (deploy/).

Each script runs for real against recording stand-ins for ``gcloud``, ``docker`` and
``podman`` placed first on PATH: a stand-in appends its argv to a log and prints the
canned output the test chose, so the tests assert the exact commands a script issues.
The workflow and Dockerfiles get static checks (pins, permissions, non-root, ...).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
WORKFLOW = ROOT / ".github" / "workflows" / "main.yml"

DIGEST = "sha256:" + "a" * 64
SHA = "0123456789abcdef0123456789abcdef01234567"
IMAGE = "gcr.io/demo-project/dashboard"
URL = "https://dashboard-abc123-ew.a.run.app"
RUNTIME = "dashboard-run@demo-project.iam.gserviceaccount.com"

FAKE_TOOL = """#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps([name, *args]) + "\\n")
with open(os.environ["FAKE_RULES"], encoding="utf-8") as f:
    rules = json.load(f)
for rule in rules.get(name, []):
    if args[: len(rule["args"])] == rule["args"]:
        sys.stdout.write(rule.get("stdout", ""))
        sys.stderr.write(rule.get("stderr", ""))
        sys.exit(rule.get("exit", 0))
"""


class FakeTools:
    """Recording stand-ins for command-line tools, first on PATH."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.jsonl"
        self.rules_file = root / "rules.json"
        self.rules: dict[str, list[dict]] = {}
        self.output = root / "github_output"
        for name in ("gcloud", "docker", "podman"):
            tool = self.bin / name
            tool.write_text(FAKE_TOOL.format(python=sys.executable))
            tool.chmod(0o755)

    def on(self, tool: str, *args: str, stdout: str = "", exit: int = 0) -> None:
        """When ``tool`` is called with argv starting with ``args``, answer so."""
        self.rules.setdefault(tool, []).append(
            {"args": list(args), "stdout": stdout, "exit": exit}
        )

    def env(self, **extra: str) -> dict[str, str]:
        self.rules_file.write_text(json.dumps(self.rules))
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CLOUD_RUN_", "GITHUB_"))
        }
        env.update(
            PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            FAKE_LOG=str(self.log),
            FAKE_RULES=str(self.rules_file),
            GITHUB_OUTPUT=str(self.output),
            # The deploy requires the service's runtime identity.
            CLOUD_RUN_SERVICE_ACCOUNT=RUNTIME,
        )
        env.update(extra)
        return env

    def calls(self, tool: str | None = None) -> list[list[str]]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [call for call in calls if tool is None or call[0] == tool]

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in argv],
            capture_output=True,
            text=True,
            env=self.env(**env),
            cwd=ROOT,
            timeout=120,
        )


@pytest.fixture
def fake(tmp_path):
    return FakeTools(tmp_path)


def load_script(name: str):
    """Import a deploy/ script as a module (they are not a package)."""
    path = DEPLOY / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- deploy.sh


REVISION = "dashboard-00042-xyz"


def described(
    url: str = URL, tag: str = "candidate", tag_url: str | None = None
) -> str:
    """What ``gcloud run services describe --format=json`` prints after a deploy
    with no traffic: the new revision is the latest ready one, at its tag's URL."""
    host = url.split("://", 1)[1]
    return json.dumps(
        {
            "status": {
                "url": url,
                "latestReadyRevisionName": REVISION,
                "traffic": [
                    {"revisionName": "dashboard-00041-abc", "percent": 100},
                    {
                        "revisionName": REVISION,
                        "tag": tag,
                        "url": tag_url or f"https://{tag}---{host}",
                    },
                ],
            }
        }
    )


def deploy_rules(fake: FakeTools, *scope: str, **described_as: str) -> None:
    describe = ["run", "services", "describe", "dashboard", "--region=europe-west1"]
    fake.on(
        "gcloud", *describe, *scope, "--format=json", stdout=described(**described_as)
    )


def flags(call: list[str]) -> dict[str, str]:
    """The ``--name=value`` flags of one command line (``--switch`` maps to "")."""
    pairs = (arg[2:].partition("=") for arg in call if arg.startswith("--"))
    return {name: value for name, _, value in pairs}


def env_vars(call: list[str]) -> dict[str, str]:
    """The variables of ``--set-env-vars=^;^A=1;B=2`` as a dict."""
    value = flags(call)["set-env-vars"]
    assert value.startswith("^;^")
    return dict(item.split("=", 1) for item in value[3:].split(";"))


def test_deploy_ships_the_digest_with_no_traffic_and_reports(fake):
    deploy_rules(fake)
    result = fake.run(
        "bash",
        DEPLOY / "deploy.sh",
        f"{IMAGE}@{DIGEST}",
        SERVICE="dashboard",
        REGION="europe-west1",
        COMMIT_SHA=SHA,
    )
    assert result.returncode == 0, result.stderr
    calls = fake.calls("gcloud")
    deploys = [c for c in calls if c[1:4] == ["run", "deploy", "dashboard"]]
    assert len(deploys) == 1
    deploy = flags(deploys[0])
    # The exact image that was built and scanned, in the chosen region.
    assert deploy["image"] == f"{IMAGE}@{DIGEST}"
    assert deploy["region"] == "europe-west1"
    assert deploy["port"] == "8050" and "quiet" in deploy
    # The app sizes its caches and job slots from what Cloud Run gives it.
    env = env_vars(deploys[0])
    assert deploy["memory"] == f"{int(env['MEMORY_MB']) // 1024}Gi"
    assert int(env["JOB_SLOTS"]) >= 1
    assert env["GUNICORN_TIMEOUT"] == deploy["timeout"]
    # Sessions stay on one instance; the job runner keeps its CPU between requests.
    assert "session-affinity" in deploy and "no-cpu-throttling" in deploy
    assert f"commit-sha={SHA}" in deploy["labels"]
    # The new revision takes no traffic: it is reached at its tag's URL.
    assert "no-traffic" in deploy and deploy["tag"] == "candidate"
    assert not [c for c in calls if "update-traffic" in c]
    tag_url = "https://candidate---" + URL.split("://")[1]
    lines = f"url={URL}\nrevision={REVISION}\ntag_url={tag_url}\n"
    assert result.stdout == lines and fake.output.read_text() == lines


def test_deploy_overrides_reach_the_flags(fake):
    deploy_rules(fake, "--project=demo-project")
    result = fake.run(
        "bash",
        DEPLOY / "deploy.sh",
        f"{IMAGE}@{DIGEST}",
        SERVICE="dashboard",
        REGION="europe-west1",
        PROJECT="demo-project",
        CLOUD_RUN_MEMORY="4Gi",
        CLOUD_RUN_CPU="2",
        JOB_MEMORY_MB="900",
        CLOUD_RUN_CONCURRENCY="16",
        CLOUD_RUN_MIN_INSTANCES="1",
        CLOUD_RUN_MAX_INSTANCES="10",
        CLOUD_RUN_TIMEOUT="900",
        CLOUD_RUN_CPU_ALWAYS="false",
        CLOUD_RUN_SERVICE_ACCOUNT="runtime@demo-project.iam.gserviceaccount.com",
        CLOUD_RUN_ENV_VARS="MAX_UPLOAD_MB=50;ENABLE_MCP=1",
        CLOUD_RUN_SECRETS="REDIS_URL=dashboard-redis-url:latest,SECRET_KEY=key:3",
        WEB_CONCURRENCY="4",
    )
    assert result.returncode == 0, result.stderr
    deploy = fake.calls()[0]
    assert deploy[:5] == [
        "gcloud",
        "run",
        "deploy",
        "dashboard",
        f"--image={IMAGE}@{DIGEST}",
    ]
    for flag in (
        "--region=europe-west1",
        "--project=demo-project",
        "--memory=4Gi",
        "--cpu=2",
        "--concurrency=16",
        "--min-instances=1",
        "--max-instances=10",
        "--timeout=900",
        "--cpu-throttling",
        "--service-account=runtime@demo-project.iam.gserviceaccount.com",
        "--set-env-vars=^;^LOG_LEVEL=info;WEB_CONCURRENCY=4;GUNICORN_THREADS=4;"
        "GUNICORN_TIMEOUT=900;MEMORY_MB=4096;JOB_SLOTS=2;JOB_MEMORY_MB=900;"
        "MAX_UPLOAD_MB=50;ENABLE_MCP=1",
        "--update-secrets=REDIS_URL=dashboard-redis-url:latest,SECRET_KEY=key:3",
        "--labels=managed-by=github-actions",
    ):
        assert flag in deploy
    assert "--no-cpu-throttling" not in deploy
    assert all("--project=demo-project" in call for call in fake.calls())


@pytest.mark.parametrize(
    "image",
    [f"{IMAGE}:latest", f"{IMAGE}@sha256:abc", IMAGE],
)
def test_deploy_refuses_anything_but_a_digest(fake, image):
    result = fake.run(
        "bash", DEPLOY / "deploy.sh", image, SERVICE="dashboard", REGION="x"
    )
    assert result.returncode == 2
    assert "by digest" in result.stderr
    assert fake.calls() == []


def test_deploy_refuses_a_memory_it_cannot_pass_on(fake):
    result = fake.run(
        "bash",
        DEPLOY / "deploy.sh",
        f"{IMAGE}@{DIGEST}",
        SERVICE="dashboard",
        REGION="x",
        CLOUD_RUN_MEMORY="2G",
    )
    assert result.returncode == 2
    assert (
        "CLOUD_RUN_MEMORY must be a whole number of Mi or Gi, got 2G" in result.stderr
    )
    assert fake.calls() == []


def test_deploy_stops_when_the_deploy_fails(fake):
    fake.on("gcloud", "run", "deploy", exit=1)
    result = fake.run(
        "bash",
        DEPLOY / "deploy.sh",
        f"{IMAGE}@{DIGEST}",
        SERVICE="dashboard",
        REGION="europe-west1",
    )
    assert result.returncode == 1
    assert [call[1:3] for call in fake.calls()] == [["run", "deploy"]]


# ------------------------------------------------------------ push-image.sh


def test_push_tags_pushes_and_prints_the_digest(fake):
    fake.on(
        "docker",
        "image",
        "inspect",
        stdout=f"other.io/x@sha256:{'b' * 64}\n{IMAGE}@{DIGEST}\n",
    )
    result = fake.run("bash", DEPLOY / "push-image.sh", "dashboard:ci", IMAGE, SHA)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{IMAGE}@{DIGEST}\n"
    calls = fake.calls("docker")
    pushed = [c[2] for c in calls if c[1] == "push"]
    assert pushed == [f"{IMAGE}:{SHA}", f"{IMAGE}:latest"]
    tags = {c[3]: c[2] for c in calls if c[1] == "tag"}
    assert tags == {f"{IMAGE}:{SHA}": "dashboard:ci", f"{IMAGE}:latest": "dashboard:ci"}
    # The digest printed is the one of the pushed commit tag, read after the push.
    inspect = [c for c in calls if c[1:3] == ["image", "inspect"]]
    assert inspect and inspect[-1][-1] == f"{IMAGE}:{SHA}"
    assert calls.index(inspect[-1]) > max(
        i for i, c in enumerate(calls) if c[1] == "push"
    )


@pytest.mark.parametrize(
    "repository, sha",
    [(f"{IMAGE}:latest", SHA), (IMAGE, "main"), (IMAGE, "")],
)
def test_push_refuses_bad_arguments(fake, repository, sha):
    result = fake.run("bash", DEPLOY / "push-image.sh", "dashboard:ci", repository, sha)
    assert result.returncode == 2
    assert fake.calls() == []


def test_push_fails_without_a_digest(fake):
    fake.on("docker", "image", "inspect", stdout="")
    result = fake.run("bash", DEPLOY / "push-image.sh", "dashboard:ci", IMAGE, SHA)
    assert result.returncode == 1
    assert "no digest" in result.stderr


# -------------------------------------------------------- cleanup_images.py


def digest(char: str) -> str:
    return "sha256:" + char * 64


def revision(name: str, created: str, image_digest: str) -> dict:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"containers": [{"image": f"{IMAGE}@{image_digest}"}]},
        "status": {"imageDigest": f"{IMAGE}@{image_digest}"},
    }


def image(version: str, created: str, tags=()) -> dict:
    return {
        "package": IMAGE,
        "version": version,
        "tags": ",".join(tags),
        "createTime": created,
    }


CLEANUP_SERVICE = {
    "status": {
        "latestReadyRevisionName": "dashboard-00006",
        "traffic": [
            {"revisionName": "dashboard-00002", "percent": 100},
            {"latestRevision": True, "percent": 0},
        ],
    }
}
# Revision 2 serves (a rollback); 5 and 6 are the two most recent; 1, 3, 4 are old.
CLEANUP_REVISIONS = [
    revision("dashboard-00001", "2026-01-01T00:00:00.123456789Z", digest("1")),
    revision("dashboard-00002", "2026-01-02T00:00:00Z", digest("2")),
    revision("dashboard-00003", "2026-01-03T00:00:00Z", digest("3")),
    revision("dashboard-00004", "2026-01-04T00:00:00Z", digest("4")),
    revision("dashboard-00005", "2026-01-05T00:00:00Z", digest("5")),
    revision("dashboard-00006", "2026-01-06T00:00:00Z", digest("6")),
]
CLEANUP_IMAGES = [
    image(digest("1"), "2026-01-01T00:00:00Z"),  # untagged, old: goes
    image(digest("2"), "2026-01-02T00:00:00Z"),  # untagged, serving: stays
    image(digest("3"), "2026-01-03T00:00:00Z", ["3" * 40]),  # commit tag, old: goes
    image(digest("4"), "2026-01-04T00:00:00Z", ["v1.0"]),  # release tag: stays
    image(digest("5"), "2026-01-05T00:00:00Z"),  # untagged, recent revision: stays
    image(digest("6"), "2026-01-06T00:00:00Z", ["6" * 40]),  # recent revision
    image(digest("7"), "2026-01-07T00:00:00Z"),  # pushed, never deployed: stays
    image(digest("8"), "2026-01-08T00:00:00Z", ["8" * 40, "latest"]),  # latest
    image(digest("9"), "2025-12-01T00:00:00Z"),  # untagged, oldest: goes
]


def cleanup_rules(fake: FakeTools, images=CLEANUP_IMAGES) -> None:
    fake.on(
        "gcloud",
        "run",
        "services",
        "describe",
        stdout=json.dumps(CLEANUP_SERVICE),
    )
    fake.on("gcloud", "run", "revisions", "list", stdout=json.dumps(CLEANUP_REVISIONS))
    fake.on(
        "gcloud", "artifacts", "docker", "images", "list", stdout=json.dumps(images)
    )


CLEANUP_ARGS = (
    "--image",
    IMAGE,
    "--service",
    "dashboard",
    "--region",
    "europe-west1",
    "--keep",
    "2",
)

CLEANUP_READS = [
    [
        "gcloud",
        "run",
        "services",
        "describe",
        "dashboard",
        "--region=europe-west1",
        "--format=json",
    ],
    [
        "gcloud",
        "run",
        "revisions",
        "list",
        "--service=dashboard",
        "--region=europe-west1",
        "--format=json",
    ],
    [
        "gcloud",
        "artifacts",
        "docker",
        "images",
        "list",
        IMAGE,
        "--include-tags",
        "--format=json",
    ],
    ["gcloud", "run", "services", "list", "--format=json"],
    ["gcloud", "run", "jobs", "list", "--format=json"],
]


def test_cleanup_deletes_only_images_nothing_needs(fake):
    cleanup_rules(fake)
    result = fake.run(sys.executable, DEPLOY / "cleanup_images.py", *CLEANUP_ARGS)
    assert result.returncode == 0, result.stderr
    assert fake.calls() == CLEANUP_READS + [
        [
            "gcloud",
            "artifacts",
            "docker",
            "images",
            "delete",
            f"{IMAGE}@{digest('1')}",
            "--quiet",
        ],
        [
            "gcloud",
            "artifacts",
            "docker",
            "images",
            "delete",
            f"{IMAGE}@{digest('3')}",
            "--delete-tags",
            "--quiet",
        ],
        [
            "gcloud",
            "artifacts",
            "docker",
            "images",
            "delete",
            f"{IMAGE}@{digest('9')}",
            "--quiet",
        ],
    ]
    assert "deleted 3 image(s), 0 failed" in result.stdout
    assert "serves (dashboard-00002)" in result.stdout


def test_cleanup_plan_reasons():
    cleanup = load_script("cleanup_images.py")
    doomed, kept = cleanup.plan(CLEANUP_IMAGES, CLEANUP_REVISIONS, CLEANUP_SERVICE, 2)
    assert [i["version"] for i in doomed] == [digest("1"), digest("3"), digest("9")]
    assert kept == {
        digest("2"): "serves (dashboard-00002)",
        digest("6"): "recent revision (dashboard-00006)",
        digest("5"): "recent revision (dashboard-00005)",
        digest("4"): "tagged v1.0",
        digest("8"): "tagged latest",
        digest("7"): "recently pushed",
    }


def test_cleanup_keeps_the_image_of_a_revision_deployed_by_tag():
    cleanup = load_script("cleanup_images.py")
    by_tag = {
        "metadata": {"name": "dashboard-00001", "creationTimestamp": "2026-01-01"},
        "spec": {"containers": [{"image": f"{IMAGE}:{'3' * 40}"}]},
        "status": {},
    }
    service = {
        "status": {"traffic": [{"revisionName": "dashboard-00001", "percent": 100}]}
    }
    doomed, kept = cleanup.plan(CLEANUP_IMAGES[:3], [by_tag], service, 1)
    assert kept == {digest("3"): "serves (dashboard-00001)"}
    assert [i["version"] for i in doomed] == [digest("1"), digest("2")]


def test_cleanup_dry_run_deletes_nothing(fake):
    cleanup_rules(fake)
    result = fake.run(
        sys.executable, DEPLOY / "cleanup_images.py", *CLEANUP_ARGS, "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert fake.calls() == CLEANUP_READS
    assert "would delete 3 image(s)" in result.stdout


def test_cleanup_deletes_nothing_when_a_read_fails(fake):
    cleanup_rules(fake)
    fake.rules["gcloud"].insert(
        0, {"args": ["run", "revisions", "list"], "stdout": "", "exit": 1}
    )
    result = fake.run(sys.executable, DEPLOY / "cleanup_images.py", *CLEANUP_ARGS)
    assert result.returncode == 1
    assert "nothing deleted" in result.stderr
    assert not [call for call in fake.calls() if "delete" in call]


def test_cleanup_passes_the_project_and_refuses_a_tagged_image(fake):
    cleanup_rules(fake, images=[image(digest("1"), "2026-01-01T00:00:00Z")])
    result = fake.run(
        sys.executable,
        DEPLOY / "cleanup_images.py",
        *CLEANUP_ARGS,
        "--project",
        "demo-project",
    )
    assert result.returncode == 0, result.stderr
    assert all("--project=demo-project" in call for call in fake.calls())
    # The only image is the most recently pushed one: kept.
    assert not [call for call in fake.calls() if "delete" in call]
    bad = fake.run(
        sys.executable,
        DEPLOY / "cleanup_images.py",
        "--image",
        f"{IMAGE}:latest",
        "--service",
        "dashboard",
        "--region",
        "europe-west1",
    )
    assert bad.returncode == 2


# ----------------------------------------------------------------- smoke.py


class _Handler(http.server.BaseHTTPRequestHandler):
    """The stand-in service: ``answers`` by path; ``seen``, each request's
    headers."""

    answers: dict[str, tuple[int, str]] = {}
    seen: list[dict[str, str]] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        self.seen.append(dict(self.headers))
        status, body = self.answers.get(self.path, (404, "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    """A stand-in for the deployed service on loopback; tests set its answers."""
    answers = {
        "/healthz": (200, '{"status": "ok"}'),
        "/": (200, '<html><script id="_dash-config">{}</script></html>'),
        "/_dash-layout": (200, '{"props": {}}'),
    }
    handler = type("Handler", (_Handler,), {"answers": answers})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answers
    server.shutdown()
    server.server_close()


def test_smoke_passes_on_a_healthy_service(site):
    url, _ = site
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "smoke.py"), url + "/", "--attempts", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("PASS") == 3
    assert "smoke: 3 passed, 0 failed" in result.stdout


@pytest.mark.parametrize(
    "path, answer",
    [
        ("/healthz", (500, "Internal Server Error")),
        ("/healthz", (200, '{"status": "starting"}')),
        ("/", (200, "<html>placeholder</html>")),
        ("/_dash-layout", (200, "<html>not json</html>")),
    ],
)
def test_smoke_fails_on_a_broken_service(site, path, answer):
    url, answers = site
    answers[path] = answer
    result = subprocess.run(
        [
            sys.executable,
            str(DEPLOY / "smoke.py"),
            url,
            "--attempts",
            "2",
            "--delay",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"FAIL  GET {path}:" in result.stdout
    assert "attempt 2" in result.stdout


def test_smoke_refuses_a_non_http_url():
    smoke = load_script("smoke.py")
    assert smoke.run("file:///etc/passwd", 1, 0, 1) == 2


# ------------------------------------------------------------ monitoring.py


def monitoring_rules(fake: FakeTools, checks=(), policies=()) -> None:
    fake.on(
        "gcloud",
        "run",
        "services",
        "describe",
        stdout=URL + "\n",
    )
    fake.on("gcloud", "monitoring", "uptime", "list-configs", stdout=json.dumps(checks))
    fake.on(
        "gcloud",
        "monitoring",
        "uptime",
        "create",
        stdout="projects/demo-project/uptimeCheckConfigs/dashboard-healthz-x1\n",
    )
    fake.on("gcloud", "monitoring", "policies", "list", stdout=json.dumps(policies))


def test_monitoring_creates_uptime_check_and_alert_policies(fake):
    monitoring_rules(fake)
    result = fake.run(
        sys.executable,
        DEPLOY / "monitoring.py",
        "--service",
        "dashboard",
        "--region",
        "europe-west1",
        "--project",
        "demo-project",
        "--channel",
        "projects/demo-project/notificationChannels/42",
    )
    assert result.returncode == 0, result.stderr
    calls = fake.calls()
    assert calls[1] == [
        "gcloud",
        "monitoring",
        "uptime",
        "list-configs",
        "--format=json",
        "--project=demo-project",
    ]
    assert calls[2] == [
        "gcloud",
        "monitoring",
        "uptime",
        "create",
        "dashboard /healthz",
        "--resource-type=uptime-url",
        "--resource-labels=host=dashboard-abc123-ew.a.run.app,project_id=demo-project",
        "--protocol=https",
        "--port=443",
        "--path=/healthz",
        "--period=5",
        "--timeout=10",
        "--matcher-content=status",
        "--matcher-type=contains-string",
        "--format=value(name)",
        "--project=demo-project",
    ]
    creates = [
        call for call in calls if call[1:4] == ["monitoring", "policies", "create"]
    ]
    policies = [json.loads(call[4].removeprefix("--policy=")) for call in creates]
    assert [p["displayName"] for p in policies] == [
        "dashboard: 5xx responses above 5%",
        "dashboard: p95 latency above 3000 ms",
        "dashboard: /healthz uptime check failing",
    ]
    errors, latency, uptime = (
        p["conditions"][0]["conditionThreshold"] for p in policies
    )
    assert 'metric.labels.response_code_class = "5xx"' in errors["filter"]
    assert 'resource.labels.service_name = "dashboard"' in errors["denominatorFilter"]
    assert errors["thresholdValue"] == 0.05
    assert "run.googleapis.com/request_latencies" in latency["filter"]
    assert latency["aggregations"][0]["perSeriesAligner"] == "ALIGN_PERCENTILE_95"
    assert 'check_id = "dashboard-healthz-x1"' in uptime["filter"]
    assert all(
        p["notificationChannels"] == ["projects/demo-project/notificationChannels/42"]
        for p in policies
    )


def test_monitoring_is_idempotent(fake):
    monitoring_rules(
        fake,
        checks=[
            {
                "displayName": "dashboard /healthz",
                "name": "projects/p/uptimeCheckConfigs/c1",
            }
        ],
        policies=[
            {"displayName": "dashboard: 5xx responses above 5%"},
            {"displayName": "dashboard: p95 latency above 3000 ms"},
            {"displayName": "dashboard: /healthz uptime check failing"},
        ],
    )
    result = fake.run(
        sys.executable,
        DEPLOY / "monitoring.py",
        "--service",
        "dashboard",
        "--region",
        "europe-west1",
        "--project",
        "p",
    )
    assert result.returncode == 0, result.stderr
    assert not [call for call in fake.calls() if "create" in call]
    assert result.stdout.count("exists") == 4


def test_monitoring_dry_run_writes_nothing(fake):
    monitoring_rules(fake)
    fake.on("gcloud", "beta", "monitoring", "channels", "list", stdout="[]")
    result = fake.run(
        sys.executable,
        DEPLOY / "monitoring.py",
        "--service",
        "dashboard",
        "--region",
        "europe-west1",
        "--project",
        "p",
        "--email",
        "ops@example.com",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert not [call for call in fake.calls() if "create" in call]
    assert result.stdout.count("would run: gcloud") == 5


# ------------------------------------------------------ container checks


def test_container_check_finds_lazy_and_named_imports(tmp_path):
    check = load_script("container_check.py")
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.py").write_text(
        "from __future__ import annotations\n"
        "import os\n"
        "from . import b\n"
        "from app.b import thing\n"
        "MODELS = {'forest': 'sklearn.ensemble:RandomForestClassifier'}\n"
        "NOT_A_MODULE = 'time: 10:30'\n"
        "def later():\n"
        "    import pandas.io.parquet\n"
    )
    (app / "b.py").write_text("thing = 1\n")
    assert check.app_imports(app) == [
        "app.b",
        "os",
        "pandas.io.parquet",
        "sklearn.ensemble",
    ]


def test_standin_base_reuses_images_of_its_recipe(fake):
    fake.on("podman", "image", "inspect", stdout="2\n")  # made by this recipe
    result = fake.run("bash", DEPLOY / "standin-base.sh", PODMAN="podman")
    assert result.returncode == 0, result.stderr
    assert "present" in result.stdout
    label = '{{ index .Config.Labels "dashboard.standin" }}'
    assert fake.calls() == [
        ["podman", "image", "inspect", "--format", label, f"docker.io/library/{name}"]
        for name in ("python:3.11-slim-bookworm", "python:3.11-buster")
    ]
    recipe = re.search(
        r"^recipe=(\d+)$", (DEPLOY / "standin-base.sh").read_text(), re.M
    )
    assert recipe and recipe[1] == "2"


# ------------------------------------------------- workflow and Dockerfiles


@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


def test_every_action_is_pinned_to_a_commit_with_its_version():
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", WORKFLOW.read_text(), re.M)
    assert uses
    for ref, rest in uses:
        name, _, pin = ref.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", pin), f"{name} is not pinned: {ref}"
        assert re.search(r"#\s*v\d+(\.\d+)*", rest), f"{name} has no version comment"


def test_workflow_permissions_concurrency_and_deploy_gates(workflow):
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read"}
    assert "concurrency" in workflow
    jobs = workflow["jobs"]
    for name in ("lint", "test", "image", "audit"):
        assert name in jobs
    deploy = jobs["deploy"]
    assert deploy["environment"]["name"] == "production"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "github.event_name == 'push'" in deploy["if"]
    assert set(deploy["needs"]) >= {"lint", "test", "image", "audit"}
    assert deploy["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "attestations": "write",
    }
    names = [step.get("name") for step in deploy["steps"]]
    assert "Clean up old images" not in names  # a report job of its own now
    # The scanner's job gets no credentials, no OIDC token and no secret.
    zap = jobs["zap"]
    assert zap["needs"] == "deploy"
    assert "permissions" not in zap and "secrets." not in json.dumps(zap)
    for job in jobs.values():
        for step in job.get("steps", []):
            for script in re.findall(r"deploy/[\w.-]+", step.get("run", "")):
                assert (ROOT / script).exists(), script


def test_production_dockerfile_shape():
    text = (ROOT / "project" / "Dockerfile.prod").read_text()
    # A literal base pinned by digest (Dependabot reads it): Python 3.11 on a
    # supported Debian release, the same in both stages.
    bases = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.M)
    assert [stage for _, stage in bases] == ["builder", "runtime"]
    assert len({base for base, _ in bases}) == 1
    assert re.fullmatch(
        r"python:3\.11-slim-(bookworm|trixie)@sha256:[0-9a-f]{64}", bases[0][0]
    )
    assert "ARG PYTHON_IMAGE" not in text
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert re.search(r'^CMD \["gunicorn", "--config", "gunicorn.conf.py"', text, re.M)
    assert "--no-control-socket" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "PYTHONUNBUFFERED=1" in text
    assert "requirements-dev" not in text
    assert not re.search(r"^COPY .*\b(tests|tools)\b", text, re.M)


def test_local_dockerfile_uses_buster_without_apt():
    text = (ROOT / "project" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3.11-buster$", text, re.M)
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "apt-get" in line]
    assert re.search(r"^USER ", text, re.M)


def test_dockerignore_keeps_out_what_must_not_ship():
    text = (ROOT / "project" / ".dockerignore").read_text()
    lines = {line.strip() for line in text.splitlines()}
    assert "*" in lines  # allow-list
    assert {"!app/", "!gunicorn.conf.py", "!requirements.txt"} <= lines
    for pattern in ("**/__pycache__", "**/.env", "**/*-key.json", "**/key.json"):
        assert pattern in lines
