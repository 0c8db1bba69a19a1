"""The bucket of published runs and workspaces on Google Cloud: its set-up
script, and the deploy passing ``SHARE_URL`` and ``STORE_URL`` on, with as many
instances as is safe (against the recording stand-in ``gcloud``)."""

from __future__ import annotations

import json
from pathlib import Path

from test_deploy_scripts import DEPLOY, env_vars, fake, flags  # noqa: F401
from test_release import _deploy

ACCOUNT = "dashboard-run@demo-project.iam.gserviceaccount.com"


def _bucket(fake, *argv: str, **env: str):  # noqa: F811 - the fixture
    return fake.run(
        "bash",
        DEPLOY / "share-bucket.sh",
        *argv,
        **{"REGION": "europe-west1", "SERVICE_ACCOUNT": ACCOUNT, **env},
    )


def _writes(fake) -> list[list[str]]:  # noqa: F811
    return [
        c
        for c in fake.calls("gcloud")
        if "describe" not in c and "get-iam-policy" not in c
    ]


def _rules(days: int = 30, prefix: str = "workspaces/") -> dict:
    return {
        "rule": [
            {
                "action": {"type": "Delete"},
                "condition": {"age": days, "matchesPrefix": [prefix]},
            }
        ]
    }


def _has_rules(fake, days: int = 30) -> None:  # noqa: F811
    """The bucket's lifecycle is already the rule the script sets."""
    fake.on(
        "gcloud",
        "storage",
        "buckets",
        "describe",
        "gs://demo-shares",
        "--format=json(lifecycle_config)",
        stdout=json.dumps({"lifecycle_config": _rules(days)}),
    )


def test_a_missing_bucket_is_created_private_and_opened_to_the_service(
    fake,  # noqa: F811
):
    fake.on("gcloud", "storage", "buckets", "describe", exit=1)  # not found
    result = _bucket(fake, "gs://demo-shares/runs", PROJECT="demo-project")
    assert result.returncode == 0, result.stderr
    created, ruled, granted = _writes(fake)
    assert created[1:5] == ["storage", "buckets", "create", "gs://demo-shares"]
    made = flags(created)
    assert made["location"] == "europe-west1" and made["project"] == "demo-project"
    assert "uniform-bucket-level-access" in made and "public-access-prevention" in made
    # Workspace objects go after the retention; published runs stay.
    assert ruled[1:5] == ["storage", "buckets", "update", "gs://demo-shares"]
    assert flags(ruled)["lifecycle-file"]  # read, then removed, by the script
    assert granted[1:5] == [
        "storage",
        "buckets",
        "add-iam-policy-binding",
        "gs://demo-shares",
    ]
    grant = flags(granted)
    assert grant["member"] == f"serviceAccount:{ACCOUNT}"
    assert grant["role"] == "roles/storage.objectUser"  # objects only, this bucket
    assert "SHARE_URL=gs://demo-shares/runs" in result.stderr
    assert "workspaces: gs://demo-shares/workspaces" in result.stderr


def test_the_lifecycle_rule_deletes_workspaces_after_the_retention(
    fake,  # noqa: F811
):
    fake.on("gcloud", "storage", "buckets", "describe", stdout="demo-shares\n")
    result = _bucket(fake, "gs://demo-shares", RETENTION_DAYS="7")
    assert result.returncode == 0, result.stderr
    ruled, _ = _writes(fake)
    path = Path(flags(ruled)["lifecycle-file"])
    assert not path.exists()  # a temporary file, removed
    assert "after 7 days" in result.stderr
    bad = _bucket(fake, "gs://demo-shares", RETENTION_DAYS="a month")
    assert bad.returncode == 2 and "whole number of days" in bad.stderr


def test_an_existing_bucket_is_left_as_it_is(fake):  # noqa: F811
    _has_rules(fake)
    fake.on("gcloud", "storage", "buckets", "describe", stdout="demo-shares\n")
    result = _bucket(fake, "gs://demo-shares")
    assert result.returncode == 0, result.stderr
    (granted,) = _writes(fake)  # no create, no rule; the missing binding only
    assert granted[3] == "add-iam-policy-binding"


def test_a_bucket_set_up_already_gets_no_write(fake):  # noqa: F811
    _has_rules(fake)
    fake.on("gcloud", "storage", "buckets", "describe", stdout="demo-shares\n")
    binding = {
        "role": "roles/storage.objectUser",
        "members": [f"serviceAccount:{ACCOUNT}"],
    }
    fake.on(
        "gcloud",
        "storage",
        "buckets",
        "get-iam-policy",
        stdout=json.dumps({"bindings": [binding]}),
    )
    result = _bucket(fake, "gs://demo-shares")
    assert result.returncode == 0, result.stderr
    assert _writes(fake) == []


def test_a_dry_run_changes_nothing(fake):  # noqa: F811
    fake.on("gcloud", "storage", "buckets", "describe", exit=1)
    result = _bucket(fake, "gs://demo-shares", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert _writes(fake) == []
    assert "would run: gcloud storage buckets create gs://demo-shares" in result.stderr


def test_the_bucket_script_refuses_what_it_cannot_use(fake):  # noqa: F811
    for argv, env in (
        (("demo-shares",), {}),
        (("gs://",), {}),
        (("gs://demo-shares", "--force"), {}),
        (("gs://demo-shares",), {"SERVICE_ACCOUNT": ""}),
    ):
        assert _bucket(fake, *argv, **env).returncode != 0, argv
    assert fake.calls("gcloud") == []


def _deployed(fake) -> list[str]:  # noqa: F811
    """The last ``gcloud run deploy`` command line."""
    return [c for c in fake.calls("gcloud") if c[1:3] == ["run", "deploy"]][-1]


def test_the_deploy_passes_the_share_and_store_urls_on(fake):  # noqa: F811
    result = _deploy(fake, SHARE_URL="gs://demo-shares/runs", RETENTION_DAYS="7")
    assert result.returncode == 0, result.stderr
    env = env_vars(_deployed(fake))
    assert env["SHARE_URL"] == "gs://demo-shares/runs"
    assert env["STORE_URL"] == "gs://demo-shares/workspaces"  # the same bucket
    assert env["RETENTION_DAYS"] == "7"
    assert "warning" not in result.stderr


def test_a_store_url_of_its_own_is_passed_on(fake):  # noqa: F811
    result = _deploy(
        fake, SHARE_URL="gs://demo-shares/runs", STORE_URL="gs://demo-work/ws"
    )
    assert result.returncode == 0, result.stderr
    assert env_vars(_deployed(fake))["STORE_URL"] == "gs://demo-work/ws"


def test_the_deploy_warns_without_a_bucket_and_refuses_a_local_path(fake):  # noqa: F811
    result = _deploy(fake)
    assert result.returncode == 0, result.stderr
    assert "SHARE_URL is not set" in result.stderr
    assert "STORE_URL is not set" in result.stderr
    assert "STORE_URL" not in env_vars(_deployed(fake))
    for name in ("SHARE_URL", "STORE_URL"):
        refused = _deploy(fake, **{name: "/var/shares"})
        assert refused.returncode == 2 and "must be a bucket" in refused.stderr


def test_one_instance_without_redis_and_more_refused(fake):  # noqa: F811
    result = _deploy(fake, SHARE_URL="gs://demo-shares/runs")
    assert result.returncode == 0, result.stderr
    assert flags(_deployed(fake))["max-instances"] == "1"
    refused = _deploy(fake, CLOUD_RUN_MAX_INSTANCES="3")
    assert refused.returncode == 2
    assert "needs Redis" in refused.stderr and "lose a running job" in refused.stderr
    with_redis = _deploy(
        fake, CLOUD_RUN_SECRETS="SECRET_KEY=key:1,REDIS_URL=dashboard-redis:latest"
    )
    assert with_redis.returncode == 0, with_redis.stderr
    assert flags(_deployed(fake))["max-instances"] == "3"
