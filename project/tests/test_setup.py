"""deploy/setup.py, the one-time (and any-time) set-up on Google Cloud, against
the recording stand-in ``gcloud``: what it creates when nothing exists, that it
changes nothing when everything does, and that a dry run writes nothing."""

from __future__ import annotations

import json
import sys

from test_deploy_scripts import DEPLOY, URL, fake, load_script  # noqa: F401

PROJECT = "demo-project"
ARGS = [
    "--project",
    PROJECT,
    "--region",
    "europe-west1",
    "--repository",
    "acme/dashboard",
    "--repository-id",
    "123456",
    "--owner-id",
    "7890",
]
DEPLOYER = f"dashboard-deployer@{PROJECT}.iam.gserviceaccount.com"
RUNTIME = f"dashboard-run@{PROJECT}.iam.gserviceaccount.com"
WRITES = (
    "create",
    "create-oidc",
    "update-oidc",
    "enable",
    "add-iam-policy-binding",
    "set-cleanup-policies",
    "deploy",
)


def _rules(fake, *, present: bool) -> None:  # noqa: F811
    setup = load_script("setup.py")
    fake.on("gcloud", "projects", "describe", stdout='{"projectNumber": "42"}')
    # monitoring.py's read of the URL first: the service's own check follows.
    describe = ["run", "services", "describe", "dashboard", "--region=europe-west1"]
    fake.on("gcloud", *describe, "--format=value(status.url)", stdout=URL + "\n")
    if not present:
        for what in (
            ["run", "services", "describe"],
            ["artifacts", "repositories", "describe"],
            ["iam", "service-accounts", "describe"],
            ["iam", "workload-identity-pools", "describe"],
            ["iam", "workload-identity-pools", "providers", "describe"],
            ["secrets", "describe"],
            ["storage", "buckets", "describe"],
        ):
            fake.on("gcloud", *what, exit=1)
        fake.on("gcloud", "services", "list", stdout="[]")
    else:
        enabled = [{"config": {"name": api}} for api in setup.APIS]
        fake.on("gcloud", "services", "list", stdout=json.dumps(enabled))
        deployer, runtime = f"serviceAccount:{DEPLOYER}", f"serviceAccount:{RUNTIME}"
        member = (
            "principalSet://iam.googleapis.com/projects/42/locations/global/"
            "workloadIdentityPools/github/attribute.repository_id/123456"
        )
        bindings = [
            {"role": "roles/run.developer", "members": [deployer]},
            {"role": "roles/iam.serviceAccountUser", "members": [deployer]},
            {"role": "roles/artifactregistry.writer", "members": [deployer]},
            {"role": "roles/iam.workloadIdentityUser", "members": [member]},
            {"role": "roles/secretmanager.secretAccessor", "members": [runtime]},
            {"role": "roles/storage.objectUser", "members": [runtime]},
        ]
        fake.on(
            "gcloud",
            "projects",
            "get-iam-policy",
            stdout=json.dumps({"bindings": bindings}),
        )
        groups = (
            ["iam", "service-accounts"],
            ["artifacts", "repositories"],
            ["secrets"],
            ["storage", "buckets"],
        )
        for group in groups:
            fake.on(
                "gcloud",
                *group,
                "get-iam-policy",
                stdout=json.dumps({"bindings": bindings}),
            )
        fake.on(
            "gcloud",
            "artifacts",
            "repositories",
            "list-cleanup-policies",
            stdout=json.dumps(setup.cleanup_policy(10, 7)),
        )
        condition = (
            "assertion.repository_id == '123456' && "
            "assertion.repository_owner_id == '7890' && "
            "(assertion.environment == 'production' || "
            "assertion.environment == 'preview')"
        )
        fake.on(
            "gcloud",
            "iam",
            "workload-identity-pools",
            "providers",
            "describe",
            stdout=json.dumps({"attributeCondition": condition}),
        )
        fake.on("gcloud", "storage", "buckets", "describe", stdout="ok\n")
    checks = [
        {"displayName": "dashboard /healthz", "name": "projects/p/uptimeCheckConfigs/c"}
    ]
    policies = [
        {"displayName": "dashboard: 5xx responses above 5%"},
        {"displayName": "dashboard: p95 latency above 3000 ms"},
        {"displayName": "dashboard: /healthz uptime check failing"},
    ]
    fake.on(
        "gcloud",
        "monitoring",
        "uptime",
        "list-configs",
        stdout=json.dumps(checks if present else []),
    )
    fake.on(
        "gcloud",
        "monitoring",
        "uptime",
        "create",
        stdout="projects/p/uptimeCheckConfigs/c\n",
    )
    fake.on(
        "gcloud",
        "monitoring",
        "policies",
        "list",
        stdout=json.dumps(policies if present else []),
    )


def _writes(fake) -> list[list[str]]:  # noqa: F811
    return [c[1:] for c in fake.calls("gcloud") if set(c) & set(WRITES)]


def _setup(fake, *extra: str):  # noqa: F811
    return fake.run(sys.executable, DEPLOY / "setup.py", *ARGS, *extra)


def _flag(call: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in call if a.startswith(f"--{name}="))


def test_on_an_empty_project_it_creates_everything(fake):  # noqa: F811
    _rules(fake, present=False)
    result = _setup(fake, "--email", "ops@example.com")
    assert result.returncode == 0, result.stderr + result.stdout
    writes = _writes(fake)
    said = [" ".join(w[:3]) for w in writes]
    assert said[0].startswith("services enable run.googleapis.com")
    created = {(w[0], w[1]) for w in writes if "create" in w}
    assert ("artifacts", "repositories") in created
    assert ("iam", "service-accounts") in created
    assert ("iam", "workload-identity-pools") in created
    assert ("secrets", "create") in {(w[0], w[1]) for w in writes}
    assert ("storage", "buckets") in created
    (policy,) = [w for w in writes if "set-cleanup-policies" in w]
    assert "--no-dry-run" in policy
    (provider,) = [w for w in writes if "create-oidc" in w]
    condition = _flag(provider, "attribute-condition")
    assert "assertion.repository_id == '123456'" in condition
    assert "assertion.repository_owner_id == '7890'" in condition
    assert "assertion.environment == 'production'" in condition
    assert "assertion.repository ==" not in condition  # never the mutable name
    roles = {
        (_flag(w, "role"), _flag(w, "member"))
        for w in writes
        if "add-iam-policy-binding" in w
    }
    deployer = f"serviceAccount:{DEPLOYER}"
    assert ("roles/run.developer", deployer) in roles
    assert ("roles/artifactregistry.writer", deployer) in roles
    assert ("roles/iam.serviceAccountUser", deployer) in roles
    assert ("roles/secretmanager.secretAccessor", f"serviceAccount:{RUNTIME}") in roles
    assert ("roles/storage.objectUser", f"serviceAccount:{RUNTIME}") in roles
    assert not [
        r for r, _ in roles if r.endswith(("repoAdmin", ".admin", "owner", "editor"))
    ]
    (service,) = [w for w in writes if w[:2] == ["run", "deploy"]]
    assert _flag(service, "service-account") == RUNTIME
    assert [w for w in writes if w[:3] == ["monitoring", "uptime", "create"]]
    assert (
        "GCP_WORKLOAD_IDENTITY_PROVIDER=projects/42/locations/global/" in result.stdout
    )
    assert f"CLOUD_RUN_SERVICE_ACCOUNT={RUNTIME}" in result.stdout


def test_on_a_project_set_up_already_it_changes_nothing(fake):  # noqa: F811
    _rules(fake, present=True)
    result = _setup(fake)
    assert result.returncode == 0, result.stderr + result.stdout
    assert _writes(fake) == []
    assert fake.calls("gcloud"), "it looked"


def test_a_dry_run_writes_nothing_and_says_what_it_would_do(fake):  # noqa: F811
    _rules(fake, present=False)
    result = _setup(fake, "--dry-run")
    assert result.returncode == 0, result.stderr + result.stdout
    assert _writes(fake) == []
    out = result.stdout + result.stderr
    assert "would run: gcloud artifacts repositories create dashboard" in out
    assert "would run: gcloud iam workload-identity-pools providers create-oidc" in out
    assert "would run: gcloud storage buckets create" in out


def test_it_refuses_a_repository_name_for_an_id(fake):  # noqa: F811
    argv = [*ARGS]
    argv[argv.index("123456")] = "acme/dashboard"
    result = fake.run(sys.executable, DEPLOY / "setup.py", *argv)
    assert result.returncode == 2 and "must be a number" in result.stderr
    assert fake.calls("gcloud") == []
