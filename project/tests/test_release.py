"""Releasing without risk (deploy/release.sh, promote.sh, remove-preview.sh):
a revision with no traffic, smoke-tested at its tag's URL, promoted only when it
passes; previews for pull requests. Against the recording stand-in ``gcloud``
and a stand-in service on loopback (the revision's tag URL)."""

from __future__ import annotations

import base64
import http.server
import threading

import pytest
import yaml
from test_deploy_scripts import (  # noqa: F401 - a fixture
    DEPLOY,
    DIGEST,
    IMAGE,
    REVISION,
    ROOT,
    URL,
    WORKFLOW,
    _Handler,
    deploy_rules,
    fake,
    flags,
)

PAGE = '<html><script id="_dash-config">{}</script></html>'


@pytest.fixture
def candidate():
    """The new revision, at its tag's URL: healthy unless a test says otherwise."""
    answers = {
        "/healthz": (200, '{"status": "ok"}'),
        "/": (200, PAGE),
        "/_dash-layout": (200, '{"props": {}}'),
    }
    handler = type("Site", (_Handler,), {"answers": answers, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answers, handler.seen
    server.shutdown()
    server.server_close()


def _release(fake, tag_url: str, tag: str = "candidate", **env: str):  # noqa: F811
    deploy_rules(fake, tag=tag, tag_url=tag_url)
    return fake.run(
        "bash",
        DEPLOY / "release.sh",
        f"{IMAGE}@{DIGEST}",
        SERVICE="dashboard",
        REGION="europe-west1",
        SMOKE_ATTEMPTS="2",
        SMOKE_DELAY="0",
        **env,
    )


def _commands(fake) -> list[str]:  # noqa: F811
    return [" ".join(c[1:4]) for c in fake.calls("gcloud")]


def test_a_healthy_revision_is_smoke_tested_then_given_the_traffic(
    fake, candidate  # noqa: F811
):
    tag_url, _, seen = candidate
    result = _release(fake, tag_url)
    assert result.returncode == 0, result.stderr
    order = _commands(fake)
    assert order == [
        "run deploy dashboard",
        "run services describe",
        "run services update-traffic",
    ]
    deployed, _, promoted = fake.calls("gcloud")
    assert "no-traffic" in flags(deployed) and flags(deployed)["tag"] == "candidate"
    assert flags(promoted)["to-revisions"] == f"{REVISION}=100"
    assert len(seen) == 3  # the smoke test ran, at the tag's URL, before
    assert result.stdout == URL + "\n"
    assert fake.output.read_text() == f"url={URL}\nrevision={REVISION}\n"


@pytest.mark.parametrize("broken", ["/healthz", "/", "/_dash-layout"])
def test_a_revision_that_fails_its_smoke_test_never_gets_traffic(
    fake, candidate, broken  # noqa: F811
):
    tag_url, answers, _ = candidate
    answers[broken] = (500, "Internal Server Error")
    result = _release(fake, tag_url)
    assert result.returncode == 1
    assert "update-traffic" not in " ".join(_commands(fake))
    assert "traffic was NOT moved" in result.stderr
    assert f"FAIL  GET {broken}:" in result.stderr and result.stdout == ""


def test_a_service_that_needs_an_identity_gets_a_token_and_the_login(
    fake, candidate  # noqa: F811
):
    tag_url, _, seen = candidate
    fake.on("gcloud", "auth", "print-identity-token", stdout="id-token-123\n")
    result = _release(fake, tag_url, SMOKE_IDENTITY="true", SMOKE_LOGIN="ada:pw d")
    assert result.returncode == 0, result.stderr
    (asked,) = [
        c for c in fake.calls("gcloud") if c[1:3] == ["auth", "print-identity-token"]
    ]
    assert flags(asked)["audiences"] == URL  # the service's URL
    basic = "Basic " + base64.b64encode(b"ada:pw d").decode()
    for headers in seen:
        assert headers["X-Serverless-Authorization"] == "Bearer id-token-123"
        assert headers["Authorization"] == basic
    assert "id-token-123" not in result.stdout + result.stderr  # never printed
    assert "pw d" not in result.stdout + result.stderr


def test_a_preview_is_tagged_and_smoke_tested_but_never_promoted(
    fake, candidate  # noqa: F811
):
    tag_url, _, seen = candidate
    result = _release(fake, tag_url, tag="pr-12", PREVIEW="pr-12")
    assert result.returncode == 0, result.stderr
    (deployed,) = [c for c in fake.calls("gcloud") if c[1:3] == ["run", "deploy"]]
    assert flags(deployed)["tag"] == "pr-12" and "no-traffic" in flags(deployed)
    assert "update-traffic" not in " ".join(_commands(fake))
    assert result.stdout == tag_url + "\n" and len(seen) == 3


def test_the_deploy_refuses_a_tag_cloud_run_would_refuse(fake):  # noqa: F811
    result = _release(fake, "http://127.0.0.1:9", PREVIEW="PR_12")
    assert result.returncode == 2 and "DEPLOY_TAG must be" in result.stderr
    assert fake.calls("gcloud") == []


@pytest.mark.parametrize(
    "tags, removed", [("candidate;pr-12", True), ("candidate", False)]
)
def test_removing_a_preview_drops_its_tag_only_when_it_is_there(
    fake, tags, removed  # noqa: F811
):
    fake.on("gcloud", "run", "services", "describe", stdout=tags + "\n")
    result = fake.run(
        "bash",
        DEPLOY / "remove-preview.sh",
        "pr-12",
        SERVICE="dashboard",
        REGION="europe-west1",
    )
    assert result.returncode == 0, result.stderr
    updates = [c for c in fake.calls("gcloud") if "update-traffic" in c]
    assert bool(updates) is removed
    if removed:
        assert flags(updates[0])["remove-tags"] == "pr-12"


def test_promote_and_remove_preview_refuse_bad_arguments(fake):  # noqa: F811
    env = {"SERVICE": "dashboard", "REGION": "europe-west1"}
    assert fake.run("bash", DEPLOY / "promote.sh", "Bad Rev", **env).returncode == 2
    assert fake.run("bash", DEPLOY / "remove-preview.sh", "main", **env).returncode == 2
    assert fake.calls("gcloud") == []


# ----------------------------------------------------------------- the workflow


def _steps(job: dict) -> list[str]:
    return [step.get("run", "") for step in job.get("steps", [])]


def test_the_workflow_releases_through_the_script_and_previews_pull_requests():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    runs = _steps(jobs["deploy"])
    released = [i for i, run in enumerate(runs) if "deploy/release.sh" in run]
    assert len(released) == 1, "one step deploys, smoke-tests and promotes"
    for run in runs:  # nothing else moves traffic, deploys or smoke-tests
        for other in ("deploy/deploy.sh", "deploy/promote.sh", "deploy/smoke.py"):
            assert other not in run
        assert "update-traffic" not in run
    # The pushed image gets its provenance and SBOM (made in the image job, from
    # the image checked there) before it is released.
    steps = jobs["deploy"]["steps"]
    uses = [str(step.get("uses", "")).split("@")[0] for step in steps]
    pushed = next(i for i, s in enumerate(steps) if s.get("id") == "push")
    attested = [uses.index("actions/attest-build-provenance")]
    attested.append(uses.index("actions/attest-sbom"))
    assert pushed < min(attested) and max(attested) < released[0]
    for i in attested:
        given = steps[i]["with"]
        assert given["push-to-registry"] is True
        assert given["subject-digest"] == "${{ steps.push.outputs.digest }}"
    assert jobs["deploy"]["permissions"]["attestations"] == "write"
    sbom = steps[attested[1]]["with"]["sbom-path"]
    made = [s.get("with", {}) for s in jobs["image"]["steps"]]
    assert any(w.get("format") == "spdx-json" and w.get("output") == sbom for w in made)
    assert any(sbom in str(w.get("path", "")) for w in made)  # shipped with the image
    preview = jobs["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in (
        preview["if"]
    )
    assert preview["permissions"]["pull-requests"] == "write"
    script = "\n".join(_steps(preview))
    assert "deploy/release.sh" in script and "PREVIEW" in str(preview)
    cleanup = yaml.safe_load(
        (ROOT / ".github/workflows/preview-cleanup.yml").read_text()
    )
    triggers = cleanup.get("on", cleanup.get(True))
    assert triggers["pull_request"]["types"] == ["closed"]
    assert "deploy/remove-preview.sh" in "\n".join(
        run for job in cleanup["jobs"].values() for run in _steps(job)
    )


def test_a_previews_image_leaves_latest_alone(fake):  # noqa: F811
    from test_deploy_scripts import SHA

    fake.on("docker", "image", "inspect", stdout=f"{IMAGE}@{DIGEST}\n")
    result = fake.run(
        "bash", DEPLOY / "push-image.sh", "dashboard:ci", IMAGE, SHA, LATEST="false"
    )
    assert result.returncode == 0, result.stderr
    assert [c[2] for c in fake.calls("docker") if c[1] == "push"] == [f"{IMAGE}:{SHA}"]


def test_the_rescan_finds_the_image_that_serves_not_a_candidate(fake):  # noqa: F811
    import json

    traffic = [
        {"revisionName": "dashboard-00041-abc", "percent": 100},
        {"revisionName": REVISION, "tag": "candidate"},  # failed its smoke test
    ]
    fake.on(
        "gcloud",
        "run",
        "services",
        "describe",
        stdout=json.dumps({"status": {"traffic": traffic}}),
    )
    fake.on(
        "gcloud",
        "run",
        "revisions",
        "describe",
        "dashboard-00041-abc",
        stdout=f"{IMAGE}@{DIGEST}\n",
    )
    env = {"SERVICE": "dashboard", "REGION": "europe-west1"}
    result = fake.run("bash", DEPLOY / "serving-image.sh", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{IMAGE}@{DIGEST}\n"
    asked = [c[4] for c in fake.calls("gcloud") if c[1:3] == ["run", "revisions"]]
    assert asked == ["dashboard-00041-abc"]


def test_every_workflows_actions_are_pinned_to_a_commit_with_its_version():
    import re

    files = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {f.name for f in files} >= {"main.yml", "preview-cleanup.yml", "rescan.yml"}
    for path in files:
        text = path.read_text()
        for ref, rest in re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", text, re.M):
            name, _, pin = ref.partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", pin), f"{path.name}: {ref}"
            assert re.search(r"#\s*v\d+(\.\d+)*", rest), f"{path.name}: {name}"
        for image in re.findall(r"docker_name:\s*(\S+)", text):
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), image


def _deploy(fake, **env: str):  # noqa: F811
    deploy_rules(fake)
    return fake.run(
        "bash",
        DEPLOY / "deploy.sh",
        f"{IMAGE}@{DIGEST}",
        SERVICE="dashboard",
        REGION="europe-west1",
        **env,
    )


def test_the_deploy_needs_a_runtime_identity_and_probes_health(fake):  # noqa: F811
    refused = _deploy(fake, CLOUD_RUN_SERVICE_ACCOUNT="")
    assert refused.returncode != 0 and "CLOUD_RUN_SERVICE_ACCOUNT" in refused.stderr
    assert fake.calls("gcloud") == []
    assert _deploy(fake).returncode == 0
    (deployed,) = [c for c in fake.calls("gcloud") if c[1:3] == ["run", "deploy"]]
    probe = dict(
        item.split("=", 1) for item in flags(deployed)["startup-probe"].split(",")
    )
    assert probe["httpGet.path"] == "/healthz" and probe["httpGet.port"] == "8050"
    budget = int(probe["periodSeconds"]) * int(probe["failureThreshold"])
    assert 60 <= budget <= 240  # a cold start, well within Cloud Run's 600 s


@pytest.mark.parametrize("name", ["REDIS_URL", "SECRET_KEY", "AUTH_USERS"])
def test_credentials_are_refused_as_plain_variables(fake, name):  # noqa: F811
    result = _deploy(fake, CLOUD_RUN_ENV_VARS=f"MAX_UPLOAD_MB=5;{name}=x")
    assert result.returncode == 2 and "CLOUD_RUN_SECRETS" in result.stderr
    assert fake.calls("gcloud") == []


def test_malformed_secrets_are_refused(fake):  # noqa: F811
    result = _deploy(fake, CLOUD_RUN_SECRETS="REDIS_URL=redis://10.0.0.3")
    assert result.returncode == 2 and fake.calls("gcloud") == []


def test_the_cleanup_report_keeps_what_other_services_and_jobs_use(fake):  # noqa: F811
    import json
    import sys

    from test_deploy_scripts import CLEANUP_ARGS, cleanup_rules, digest

    cleanup_rules(fake)
    worker = {
        "metadata": {
            "name": "dashboard-worker",
            "labels": {"cloud.googleapis.com/location": "europe-west1"},
        }
    }
    itself = {
        "metadata": {
            "name": "dashboard",
            "labels": {"cloud.googleapis.com/location": "europe-west1"},
        }
    }
    fake.rules["gcloud"].insert(
        0,
        {
            "args": ["run", "revisions", "list", "--service=dashboard-worker"],
            "stdout": json.dumps(
                [{"spec": {"containers": [{"image": f"{IMAGE}@{digest('1')}"}]}}]
            ),
            "exit": 0,
        },
    )
    fake.on("gcloud", "run", "services", "list", stdout=json.dumps([itself, worker]))
    job = {
        "metadata": {"name": "nightly"},
        "spec": {
            "template": {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"image": f"{IMAGE}:{'3' * 40}"}]}
                    }
                }
            }
        },
    }
    fake.on("gcloud", "run", "jobs", "list", stdout=json.dumps([job]))
    result = fake.run(
        sys.executable, DEPLOY / "cleanup_images.py", *CLEANUP_ARGS, "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "used by service dashboard-worker (europe-west1)" in result.stdout
    assert "used by job nightly" in result.stdout
    assert "would delete 1 image(s)" in result.stdout  # of 3 before
    assert not [c for c in fake.calls("gcloud") if "delete" in c]


def test_the_cleanup_report_runs_apart_and_never_fails_the_deploy():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert not [
        s for s in jobs["deploy"]["steps"] if "cleanup_images.py" in s.get("run", "")
    ]
    report = jobs["cleanup-report"]
    assert report["needs"] == "deploy" and report["continue-on-error"] is True
    (run,) = [
        s["run"] for s in report["steps"] if "cleanup_images.py" in s.get("run", "")
    ]
    assert "--dry-run" in run
