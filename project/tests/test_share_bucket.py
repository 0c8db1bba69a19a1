"""The published runs' bucket on Google Cloud: its set-up script, and the deploy
passing ``SHARE_URL`` on (against the recording stand-in ``gcloud``)."""

from __future__ import annotations

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


def test_a_missing_bucket_is_created_private_and_opened_to_the_service(
    fake,  # noqa: F811
):
    fake.on("gcloud", "storage", "buckets", "describe", exit=1)  # not found
    result = _bucket(fake, "gs://demo-shares/runs", PROJECT="demo-project")
    assert result.returncode == 0, result.stderr
    created, granted = _writes(fake)
    assert created[1:5] == ["storage", "buckets", "create", "gs://demo-shares"]
    made = flags(created)
    assert made["location"] == "europe-west1" and made["project"] == "demo-project"
    assert "uniform-bucket-level-access" in made and "public-access-prevention" in made
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


def test_an_existing_bucket_is_left_as_it_is(fake):  # noqa: F811
    fake.on("gcloud", "storage", "buckets", "describe", stdout="demo-shares\n")
    result = _bucket(fake, "gs://demo-shares")
    assert result.returncode == 0, result.stderr
    (granted,) = _writes(fake)  # no create; the missing binding only
    assert granted[3] == "add-iam-policy-binding"


def test_a_bucket_set_up_already_gets_no_write(fake):  # noqa: F811
    import json

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


def test_the_deploy_passes_the_share_url_on(fake):  # noqa: F811
    result = _deploy(fake, SHARE_URL="gs://demo-shares/runs")
    assert result.returncode == 0, result.stderr
    (deploy,) = [c for c in fake.calls("gcloud") if c[1:3] == ["run", "deploy"]]
    assert env_vars(deploy)["SHARE_URL"] == "gs://demo-shares/runs"
    assert "warning" not in result.stderr


def test_the_deploy_warns_without_a_bucket_and_refuses_a_local_path(fake):  # noqa: F811
    result = _deploy(fake)
    assert result.returncode == 0, result.stderr
    assert "SHARE_URL is not set" in result.stderr
    refused = _deploy(fake, SHARE_URL="/var/shares")
    assert refused.returncode == 2 and "must be a bucket" in refused.stderr
