#!/usr/bin/env python3
"""Set up (or bring up to date) everything the pipeline deploys into, on Google
Cloud, in one idempotent run:

    python3 deploy/setup.py --project my-project --region europe-west1 \\
        --repository OWNER/REPO --repository-id 123456 --owner-id 7890 \\
        [--service dashboard] [--share-bucket my-project-dashboard-shares] \\
        [--email you@example.com] [--keep 10] [--untagged-days 7] [--dry-run]

(``make gcp-setup ARGS="..."`` runs it.) It creates what is missing and changes
nothing that is already as it should be; ``--dry-run`` prints each command that
would write, and writes nothing:

1. the APIs the pipeline and the service use;
2. the Artifact Registry repository (Docker), and its cleanup policy: keep the
   ``--keep`` most recent images and every image tagged ``latest``; delete
   untagged images after ``--untagged-days`` and any other after 90 days;
3. two service accounts: the deployer (the pipeline's identity) and the runtime
   (the service's), and the least roles each needs: the deployer deploys Cloud
   Run (``run.developer``), acts as the runtime account alone, and pushes to
   the one repository (``artifactregistry.writer``); the runtime reads its
   secrets and (step 6) the share bucket's objects;
4. Workload Identity Federation for GitHub Actions: a pool and a provider whose
   condition is the repository's and owner's immutable ids and the
   ``production`` or ``preview`` environment; the repository may act as the
   deployer;
5. Secret Manager placeholders (REDIS_URL, SECRET_KEY, AUTH_USERS: created empty,
   without a version: add one with ``gcloud secrets versions add``), readable by
   the runtime account;
6. the bucket of published runs and visitors' workspaces, private, whose
   lifecycle rule deletes workspace objects after ``RETENTION_DAYS`` (30)
   (``deploy/share-bucket.sh``);
7. the service itself, if missing (a placeholder image, the runtime account,
   public), and the uptime check and alert policies (``deploy/monitoring.py``).

It prints the repository variables and secrets to set in GitHub. Needs gcloud
(and its beta component for the email channel), as a project owner. Standard
library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil

# subprocess runs gcloud and the sibling scripts with fixed argv, never a shell.
import subprocess  # nosec B404
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APIS = (
    "run.googleapis.com",
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "monitoring.googleapis.com",
)
SECRETS = ("REDIS_URL", "SECRET_KEY", "AUTH_USERS")
PLACEHOLDER_IMAGE = "us-docker.pkg.dev/cloudrun/container/hello"
POOL = "github"
PROVIDER = "dashboard"
ENVIRONMENTS = ("production", "preview")


class Gcloud:
    """Runs gcloud; in a dry run, prints the commands that write instead."""

    def __init__(self, project: str, dry_run: bool) -> None:
        self.project = project
        self.dry_run = dry_run
        self.wrote: list[list[str]] = []

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess:
        exe = shutil.which("gcloud")
        if exe is None:
            raise SystemExit("setup: gcloud is not on PATH")
        return subprocess.run(  # nosec B603 - a fixed argv, no shell
            [exe, *argv, f"--project={self.project}"], capture_output=True, text=True
        )

    def exists(self, *args: str) -> bool:
        """Whether a ``describe`` finds it."""
        return self._run(list(args)).returncode == 0

    def read(self, *args: str) -> Any:
        """The JSON a read command prints."""
        proc = self._run([*args, "--format=json"])
        if proc.returncode != 0:
            raise SystemExit(f"setup: gcloud {' '.join(args)} failed: {proc.stderr}")
        return json.loads(proc.stdout or "null")

    def write(self, *args: str) -> None:
        """Change something (printed, not done, in a dry run)."""
        self.wrote.append(list(args))
        if self.dry_run:
            print("would run: gcloud " + " ".join(args))
            return
        proc = self._run([*args, "--quiet"])
        if proc.returncode != 0:
            raise SystemExit(f"setup: gcloud {' '.join(args)} failed: {proc.stderr}")
        print("done: gcloud " + " ".join(args))


def _account(name: str, project: str) -> str:
    return f"{name}@{project}.iam.gserviceaccount.com"


def _has_binding(policy: Any, role: str, member: str) -> bool:
    return any(
        b.get("role") == role and member in b.get("members", ())
        for b in (policy or {}).get("bindings", ())
    )


def cleanup_policy(keep: int, untagged_days: int) -> list[dict[str, Any]]:
    """The repository's cleanup policy (Artifact Registry's JSON form). Keep
    rules win over delete rules."""
    return [
        {
            "name": "keep-most-recent",
            "action": {"type": "Keep"},
            "mostRecentVersions": {"keepCount": keep},
        },
        {
            "name": "keep-latest",
            "action": {"type": "Keep"},
            "condition": {"tagState": "tagged", "tagPrefixes": ["latest"]},
        },
        {
            "name": "delete-untagged",
            "action": {"type": "Delete"},
            "condition": {"tagState": "untagged", "olderThan": f"{untagged_days}d"},
        },
        {
            "name": "delete-old",
            "action": {"type": "Delete"},
            "condition": {"tagState": "any", "olderThan": "90d"},
        },
    ]


class Setup:
    """The steps, in order; each creates only what is missing."""

    def __init__(self, args: argparse.Namespace, gcloud: Gcloud) -> None:
        self.a = args
        self.g = gcloud
        self.deployer = _account(args.deployer, args.project)
        self.runtime = _account(args.runtime, args.project)

    def apis(self) -> None:
        enabled = {
            s.get("config", {}).get("name")
            for s in self.g.read("services", "list", "--enabled") or ()
        }
        missing = [api for api in APIS if api not in enabled]
        if missing:
            self.g.write("services", "enable", *missing)

    def registry(self) -> None:
        a = self.a
        where = f"--location={a.region}"
        if not self.g.exists(
            "artifacts", "repositories", "describe", a.registry, where
        ):
            self.g.write(
                "artifacts",
                "repositories",
                "create",
                a.registry,
                where,
                "--repository-format=docker",
                "--description=Dashboard images",
            )
        wanted = cleanup_policy(a.keep, a.untagged_days)
        current = self._policy(
            ("artifacts", "repositories"),
            a.registry,
            where,
            verb="list-cleanup-policies",
        )
        if _normal(current) != _normal(wanted):
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
                json.dump(wanted, file)
            self.g.write(
                "artifacts",
                "repositories",
                "set-cleanup-policies",
                a.registry,
                where,
                f"--policy={file.name}",
                "--no-dry-run",
            )

    def accounts(self) -> None:
        for name, title in (
            (self.a.deployer, "Dashboard deployer (GitHub Actions)"),
            (self.a.runtime, "Dashboard service (Cloud Run runtime)"),
        ):
            email = _account(name, self.a.project)
            if not self.g.exists("iam", "service-accounts", "describe", email):
                self.g.write(
                    "iam", "service-accounts", "create", name, f"--display-name={title}"
                )

    def roles(self) -> None:
        a, deployer = self.a, f"serviceAccount:{self.deployer}"
        project = self.g.read("projects", "get-iam-policy", a.project)
        if not _has_binding(project, "roles/run.developer", deployer):
            self.g.write(
                "projects",
                "add-iam-policy-binding",
                a.project,
                f"--member={deployer}",
                "--role=roles/run.developer",
                "--condition=None",
            )
        runtime = self._policy(("iam", "service-accounts"), self.runtime)
        if not _has_binding(runtime, "roles/iam.serviceAccountUser", deployer):
            self.g.write(
                "iam",
                "service-accounts",
                "add-iam-policy-binding",
                self.runtime,
                f"--member={deployer}",
                "--role=roles/iam.serviceAccountUser",
            )
        where = f"--location={a.region}"
        registry = self._policy(("artifacts", "repositories"), a.registry, where)
        if not _has_binding(registry, "roles/artifactregistry.writer", deployer):
            self.g.write(
                "artifacts",
                "repositories",
                "add-iam-policy-binding",
                a.registry,
                where,
                f"--member={deployer}",
                "--role=roles/artifactregistry.writer",
            )

    def _policy(
        self, group: tuple[str, ...], *target: str, verb: str = "get-iam-policy"
    ) -> Any:
        """A resource's IAM (or cleanup) policy; none yet when the resource is
        only planned (a dry run)."""
        try:
            return self.g.read(*group, verb, *target)
        except SystemExit:
            if self.g.dry_run:
                return None
            raise

    def workload_identity(self) -> None:
        a = self.a
        number = self.g.read("projects", "describe", a.project)["projectNumber"]
        pool = ("--location=global",)
        if not self.g.exists("iam", "workload-identity-pools", "describe", POOL, *pool):
            self.g.write(
                "iam",
                "workload-identity-pools",
                "create",
                POOL,
                *pool,
                "--display-name=GitHub Actions",
            )
        environments = " || ".join(
            f"assertion.environment == '{e}'" for e in ENVIRONMENTS
        )
        condition = (
            f"assertion.repository_id == '{a.repository_id}' && "
            f"assertion.repository_owner_id == '{a.owner_id}' && ({environments})"
        )
        mapping = (
            "google.subject=assertion.sub,"
            "attribute.repository_id=assertion.repository_id,"
            "attribute.repository_owner_id=assertion.repository_owner_id,"
            "attribute.environment=assertion.environment"
        )
        provider = ("--workload-identity-pool=" + POOL, "--location=global")
        if not self.g.exists(
            "iam",
            "workload-identity-pools",
            "providers",
            "describe",
            PROVIDER,
            *provider,
        ):
            self.g.write(
                "iam",
                "workload-identity-pools",
                "providers",
                "create-oidc",
                PROVIDER,
                *provider,
                "--issuer-uri=https://token.actions.githubusercontent.com",
                f"--attribute-mapping={mapping}",
                f"--attribute-condition={condition}",
            )
        else:
            current = self.g.read(
                "iam",
                "workload-identity-pools",
                "providers",
                "describe",
                PROVIDER,
                *provider,
            )
            if current.get("attributeCondition") != condition:
                self.g.write(
                    "iam",
                    "workload-identity-pools",
                    "providers",
                    "update-oidc",
                    PROVIDER,
                    *provider,
                    f"--attribute-mapping={mapping}",
                    f"--attribute-condition={condition}",
                )
        member = (
            f"principalSet://iam.googleapis.com/projects/{number}/locations/global/"
            f"workloadIdentityPools/{POOL}/attribute.repository_id/{a.repository_id}"
        )
        deployer = self._policy(("iam", "service-accounts"), self.deployer)
        if not _has_binding(deployer, "roles/iam.workloadIdentityUser", member):
            self.g.write(
                "iam",
                "service-accounts",
                "add-iam-policy-binding",
                self.deployer,
                "--role=roles/iam.workloadIdentityUser",
                f"--member={member}",
            )
        self.provider = (
            f"projects/{number}/locations/global/workloadIdentityPools/{POOL}/"
            f"providers/{PROVIDER}"
        )

    def secrets(self) -> None:
        runtime = f"serviceAccount:{self.runtime}"
        for name in SECRETS:
            secret = f"dashboard-{name.lower().replace('_', '-')}"
            if not self.g.exists("secrets", "describe", secret):
                self.g.write(
                    "secrets", "create", secret, "--replication-policy=automatic"
                )
            policy = self._policy(("secrets",), secret)
            if not _has_binding(policy, "roles/secretmanager.secretAccessor", runtime):
                self.g.write(
                    "secrets",
                    "add-iam-policy-binding",
                    secret,
                    f"--member={runtime}",
                    "--role=roles/secretmanager.secretAccessor",
                )

    def share_bucket(self) -> None:
        a = self.a
        argv = ["bash", str(HERE / "share-bucket.sh"), f"gs://{a.share_bucket}/runs"]
        argv += ["--dry-run"] if self.g.dry_run else []
        env = dict(
            os.environ, REGION=a.region, SERVICE_ACCOUNT=self.runtime, PROJECT=a.project
        )
        subprocess.run(argv, check=True, env=env)  # nosec B603 - fixed argv

    def service_and_monitoring(self) -> None:
        a = self.a
        where = f"--region={a.region}"
        if not self.g.exists("run", "services", "describe", a.service, where):
            self.g.write(
                "run",
                "deploy",
                a.service,
                where,
                f"--image={PLACEHOLDER_IMAGE}",
                f"--service-account={self.runtime}",
                "--allow-unauthenticated",
            )
        argv = [
            sys.executable,
            str(HERE / "monitoring.py"),
            "--service",
            a.service,
            "--region",
            a.region,
            "--project",
            a.project,
        ]
        argv += ["--email", a.email] if a.email else []
        if self.g.dry_run:
            print("would run: " + " ".join(argv[1:]))
            return
        subprocess.run(argv, check=True)  # nosec B603 - fixed argv

    def run(self) -> None:
        for step in (
            self.apis,
            self.registry,
            self.accounts,
            self.roles,
            self.workload_identity,
            self.secrets,
            self.share_bucket,
            self.service_and_monitoring,
        ):
            print(f"setup: {step.__name__.replace('_', ' ')}", flush=True)
            step()

    def github_settings(self) -> str:
        a = self.a
        image = f"{a.region}-docker.pkg.dev/{a.project}/{a.registry}/{a.service}"
        secrets = ",".join(
            f"{n}=dashboard-{n.lower().replace('_', '-')}:latest" for n in SECRETS
        )
        return "\n".join(
            [
                "Set in GitHub (Settings -> Secrets and variables -> Actions):",
                f"  secret   GCP_PROJECT_ID={a.project}",
                f"  secret   GCP_APP_NAME={a.service}",
                f"  secret   GCP_EMAIL={self.deployer}",
                f"  variable GCP_WORKLOAD_IDENTITY_PROVIDER={self.provider}",
                f"  variable GCP_IMAGE_REPOSITORY={image}",
                f"  variable GCP_REGION={a.region}",
                f"  variable CLOUD_RUN_SERVICE_ACCOUNT={self.runtime}",
                f"  variable SHARE_URL=gs://{a.share_bucket}/runs  (workspaces: "
                f"gs://{a.share_bucket}/workspaces)",
                f"  variable CLOUD_RUN_SECRETS={secrets}  (those with a version)",
                "and the environments 'production' (branch main) and 'preview'.",
            ]
        )


def _normal(policy: Any) -> Any:
    """A cleanup policy in a comparable form (order and listing shape aside)."""
    if isinstance(policy, dict):  # listed as {name: rule}
        policy = [dict(rule, name=name) for name, rule in policy.items()]
    return sorted(json.dumps(rule, sort_keys=True) for rule in policy or ())


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--repository", required=True, help="GitHub OWNER/REPO")
    parser.add_argument("--repository-id", required=True, help="its numeric id")
    parser.add_argument("--owner-id", required=True, help="its owner's numeric id")
    parser.add_argument("--service", default="dashboard")
    parser.add_argument("--registry", default="dashboard")
    parser.add_argument("--deployer", default="dashboard-deployer")
    parser.add_argument("--runtime", default="dashboard-run")
    parser.add_argument("--share-bucket", help="default: PROJECT-dashboard-shares")
    parser.add_argument("--email", help="where alerts go")
    parser.add_argument("--keep", type=int, default=10, help="recent images kept")
    parser.add_argument("--untagged-days", type=int, default=7)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    for name in ("repository_id", "owner_id"):
        if not re.fullmatch(r"[0-9]+", getattr(args, name)):
            parser.error(
                f"--{name.replace('_', '-')} must be a number (gh api repos/...)"
            )
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", args.repository):
        parser.error("--repository must be OWNER/REPO")
    args.share_bucket = args.share_bucket or f"{args.project}-dashboard-shares"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    setup = Setup(args, Gcloud(args.project, args.dry_run))
    setup.run()
    print(setup.github_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
