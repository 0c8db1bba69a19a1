#!/usr/bin/env python3
"""Report (or delete) the app's old images in the registry, never one that Cloud
Run may need.

    python3 deploy/cleanup_images.py --image gcr.io/PROJECT/APP \\
        --service dashboard --region europe-west1 [--keep 5] [--dry-run]

The registry's own cleanup policy (deploy/setup.py) does the deleting; the
pipeline runs this with ``--dry-run`` as a report of what could go and why the
rest stays, in a job of its own that never fails the deploy.

What may go: images with no tag, and images whose only tags are commit SHAs (the
pipeline tags every push with its commit; those tags would otherwise keep every
image for ever). What always stays:
- any image with another tag (``latest``, a release name, ...);
- the image of every revision that serves traffic (or has a traffic tag);
- every image any revision of another Cloud Run service, or any Cloud Run job, of
  the project refers to (a worker pool, a preview's service, a batch job...);
- the images of the ``--keep`` most recent revisions (rollback targets);
- the ``--keep`` most recently pushed images (pushed but not yet deployed).

It reads, with gcloud: the service (for its traffic), its revisions (for their image
digests) and the image list with tags; then deletes each image to go by digest. If
any read fails it stops before deleting anything. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil

# subprocess runs gcloud with a fixed argv, never a shell.
import subprocess  # nosec B404
import sys
from datetime import datetime, timezone
from typing import Any, Iterable

COMMIT_TAG = re.compile(r"^[0-9a-f]{40}$")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class GcloudError(RuntimeError):
    """A gcloud command failed."""


def gcloud(*args: str) -> str:
    exe = shutil.which("gcloud")
    if exe is None:
        raise GcloudError("gcloud is not on PATH")
    # A fixed argv, no shell.
    proc = subprocess.run([exe, *args], capture_output=True, text=True)  # nosec B603
    if proc.returncode != 0:
        raise GcloudError(
            f"gcloud {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc.stdout


def gcloud_json(*args: str) -> Any:
    out = gcloud(*args, "--format=json").strip()
    return json.loads(out) if out else []


def parse_time(text: str | None) -> datetime:
    """RFC 3339 from gcloud (nanoseconds allowed); the epoch when missing."""
    if not text:
        return EPOCH
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return EPOCH
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def tags_of(image: dict[str, Any]) -> list[str]:
    tags = image.get("tags") or []
    if isinstance(tags, str):
        tags = tags.split(",")
    return [tag.strip() for tag in tags if tag and tag.strip()]


def digest_of(text: str | None) -> str | None:
    match = DIGEST.search(text or "")
    return match.group(0) if match else None


def revision_digests(revision: dict[str, Any], tag_digests: dict[str, str]) -> set[str]:
    """The image digests a revision runs: resolved digest, else its image by tag."""
    found: set[str] = set()
    resolved = digest_of((revision.get("status") or {}).get("imageDigest"))
    if resolved:
        found.add(resolved)
    for container in (revision.get("spec") or {}).get("containers") or []:
        ref = container.get("image") or ""
        by_digest = digest_of(ref)
        if by_digest:
            found.add(by_digest)
        elif ":" in ref.rsplit("/", 1)[-1]:
            tag = ref.rsplit(":", 1)[1]
            if tag in tag_digests:
                found.add(tag_digests[tag])
    return found


def serving_revisions(service: dict[str, Any]) -> set[str]:
    status = service.get("status") or {}
    names: set[str] = set()
    for target in status.get("traffic") or []:
        if not (target.get("percent") or target.get("tag")):
            continue
        name = target.get("revisionName")
        if not name and target.get("latestRevision"):
            name = status.get("latestReadyRevisionName")
        if name:
            names.add(name)
    return names


def images_in(value: Any, repository: str, tag_digests: dict[str, str]) -> set[str]:
    """The digests of ``repository``'s images that a resource's JSON (a
    revision, a job) names anywhere, by digest or by tag."""
    found: set[str] = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= images_in(item, repository, tag_digests)
    elif isinstance(value, list):
        for item in value:
            found |= images_in(item, repository, tag_digests)
    elif isinstance(value, str) and value.startswith(repository + "@"):
        found.add(digest_of(value) or "")
    elif isinstance(value, str) and value.startswith(repository + ":"):
        found.add(tag_digests.get(value.rsplit(":", 1)[1], ""))
    return found - {""}


def used_elsewhere(
    others: list[tuple[str, Any]], repository: str, images: list[dict[str, Any]]
) -> dict[str, str]:
    """digest -> which other service or job uses it, from ``(label, JSON)``."""
    tag_digests = {tag: image["version"] for image in images for tag in tags_of(image)}
    used: dict[str, str] = {}
    for label, resource in others:
        for found in sorted(images_in(resource, repository, tag_digests)):
            used.setdefault(found, f"used by {label}")
    return used


def plan(
    images: list[dict[str, Any]],
    revisions: list[dict[str, Any]],
    service: dict[str, Any],
    keep: int,
    elsewhere: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Which images to delete, and why each other one stays (digest -> reason)."""
    tag_digests = {tag: image["version"] for image in images for tag in tags_of(image)}
    kept: dict[str, str] = {}

    def keep_all(digests: Iterable[str], reason: str) -> None:
        for digest in digests:
            kept.setdefault(digest, reason)

    serving = serving_revisions(service)
    by_name = {(r.get("metadata") or {}).get("name"): r for r in revisions}
    for name in sorted(serving):
        if name in by_name:
            keep_all(revision_digests(by_name[name], tag_digests), f"serves ({name})")
    recent = sorted(
        revisions,
        key=lambda r: parse_time((r.get("metadata") or {}).get("creationTimestamp")),
        reverse=True,
    )[:keep]
    for revision in recent:
        name = (revision.get("metadata") or {}).get("name")
        keep_all(revision_digests(revision, tag_digests), f"recent revision ({name})")
    for image in images:
        other = [tag for tag in tags_of(image) if not COMMIT_TAG.match(tag)]
        if other:
            keep_all([image["version"]], f"tagged {','.join(other)}")
    newest = sorted(
        images,
        key=lambda i: parse_time(i.get("createTime") or i.get("updateTime")),
        reverse=True,
    )[:keep]
    keep_all((image["version"] for image in newest), "recently pushed")
    for found, reason in (elsewhere or {}).items():
        kept.setdefault(found, reason)
    doomed = [image for image in images if image["version"] not in kept]
    return doomed, kept


def other_users(service: str, region: str, project: list[str]) -> list[tuple[str, Any]]:
    """Every other Cloud Run service's revisions, and every Cloud Run job, of the
    project (all regions), as ``(label, JSON)``."""
    found: list[tuple[str, Any]] = []
    for other in gcloud_json("run", "services", "list", *project) or []:
        meta = other.get("metadata") or {}
        name = meta.get("name")
        where = (meta.get("labels") or {}).get("cloud.googleapis.com/location")
        if not name or not where or (name == service and where == region):
            continue
        revisions = gcloud_json(
            "run",
            "revisions",
            "list",
            f"--service={name}",
            f"--region={where}",
            *project,
        )
        found.append((f"service {name} ({where})", revisions))
    for job in gcloud_json("run", "jobs", "list", *project) or []:
        name = (job.get("metadata") or {}).get("name", "?")
        found.append((f"job {name}", job))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="e.g. gcr.io/PROJECT/APP")
    parser.add_argument("--service", required=True, help="the Cloud Run service")
    parser.add_argument("--region", required=True)
    parser.add_argument("--project", help="default: gcloud's configured project")
    parser.add_argument(
        "--keep",
        type=int,
        default=5,
        help="recent revisions and pushes whose images stay (default 5)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only print the plan")
    args = parser.parse_args(argv)
    if args.keep < 1:
        parser.error("--keep must be at least 1")
    image = args.image.rstrip("/")
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        parser.error("--image takes the repository path, with no tag or digest")
    project = [f"--project={args.project}"] if args.project else []
    run = [f"--region={args.region}", *project]

    try:
        service = gcloud_json("run", "services", "describe", args.service, *run)
        revisions = gcloud_json(
            "run", "revisions", "list", f"--service={args.service}", *run
        )
        images = gcloud_json(
            "artifacts", "docker", "images", "list", image, "--include-tags", *project
        )
        others = other_users(args.service, args.region, project)
    except (GcloudError, ValueError) as err:
        print(f"cleanup: nothing deleted, a read failed: {err}", file=sys.stderr)
        return 1
    if isinstance(service, list):  # describe gives an object; be strict
        service = service[0] if service else {}
    images = [i for i in images if digest_of(i.get("version"))]
    elsewhere = used_elsewhere(others, image, images)
    doomed, kept = plan(images, revisions, service, args.keep, elsewhere)

    print(f"cleanup: {len(images)} images in {image}, {len(kept)} kept")
    for digest, reason in sorted(kept.items(), key=lambda item: item[1]):
        print(f"  keep    {digest[:19]}  {reason}")
    failed = 0
    for item in doomed:
        tags = tags_of(item)
        label = f"commit tags {','.join(t[:7] for t in tags)}" if tags else "untagged"
        ref = f"{image}@{item['version']}"
        print(f"  delete  {item['version'][:19]}  {label}")
        if args.dry_run:
            continue
        delete = ["artifacts", "docker", "images", "delete", ref]
        delete += ["--delete-tags"] if tags else []
        delete += ["--quiet", *project]
        try:
            gcloud(*delete)
        except GcloudError as err:
            failed += 1
            print(f"cleanup: {err}", file=sys.stderr)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"cleanup: {verb} {len(doomed) - failed} image(s), {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
