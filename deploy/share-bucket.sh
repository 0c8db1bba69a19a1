#!/usr/bin/env bash
# Create (when missing) the private bucket that keeps published runs and visitors'
# workspaces, give it the lifecycle rule that deletes workspace objects after the
# retention period, and let the service's runtime identity read and write its
# objects. Safe to run again.
#
#   REGION=europe-west1 SERVICE_ACCOUNT=dashboard-run@PROJECT.iam.gserviceaccount.com \
#     deploy/share-bucket.sh gs://BUCKET[/prefix] [--dry-run]
#
# Then deploy with SHARE_URL=gs://BUCKET/prefix (the workspaces go to
# gs://BUCKET/workspaces). The bucket has uniform access and public access
# prevention: nothing in it is ever public; links are served by the app, which
# checks them. Optional: PROJECT [gcloud's configured one], RETENTION_DAYS [30],
# STORE_PREFIX (the workspaces' prefix in the bucket) [workspaces].
set -euo pipefail

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ] || [[ "$1" != gs://?* ]]; then
  echo "usage: REGION=... SERVICE_ACCOUNT=... $0 gs://BUCKET[/prefix] [--dry-run]" >&2
  exit 2
fi
dry_run=false
if [ "${2:-}" = --dry-run ]; then
  dry_run=true
elif [ -n "${2:-}" ]; then
  echo "share-bucket: unknown option $2" >&2
  exit 2
fi
: "${REGION:?set REGION to the location of the bucket (the region of the service)}"
: "${SERVICE_ACCOUNT:?set SERVICE_ACCOUNT to the runtime identity of the service}"
path=${1#gs://}
bucket="gs://${path%%/*}"
common=()
if [ -n "${PROJECT:-}" ]; then
  common+=(--project="$PROJECT")
fi

run() {
  if [ "$dry_run" = true ]; then
    echo "would run: $*" >&2
  else
    "$@"
  fi
}

if gcloud storage buckets describe "$bucket" "${common[@]}" --format='value(name)' \
  >/dev/null 2>&1; then
  echo "share-bucket: $bucket exists" >&2
else
  echo "share-bucket: creating $bucket in $REGION" >&2
  run gcloud storage buckets create "$bucket" "${common[@]}" \
    --location="$REGION" \
    --uniform-bucket-level-access \
    --public-access-prevention
fi
# Workspace objects go RETENTION_DAYS after they were written (published runs
# stay until revoked). The rule replaces the bucket's lifecycle rules.
days="${RETENTION_DAYS:-30}"
prefix="${STORE_PREFIX:-workspaces}/"
if ! [[ "$days" =~ ^[1-9][0-9]*$ ]]; then
  echo "share-bucket: RETENTION_DAYS must be a whole number of days, got $days" >&2
  exit 2
fi
rules=$(DAYS="$days" PREFIX="$prefix" python3 -c '
import json, os
print(json.dumps({"rule": [{"action": {"type": "Delete"}, "condition": {
    "age": int(os.environ["DAYS"]), "matchesPrefix": [os.environ["PREFIX"]]}}]}))')
lifecycle=$(gcloud storage buckets describe "$bucket" "${common[@]}" \
  --format='json(lifecycle_config)' 2>/dev/null || true)
if RULES="$rules" python3 -c '
import json, os, sys
try:
    found = (json.load(sys.stdin) or {}).get("lifecycle_config") or {}
except ValueError:
    found = {}
sys.exit(found.get("rule") != json.loads(os.environ["RULES"])["rule"])' \
  <<<"$lifecycle"; then
  echo "share-bucket: $bucket deletes ${prefix}* after $days days already" >&2
else
  echo "share-bucket: $bucket deletes ${prefix}* after $days days" >&2
  rules_file=$(mktemp)
  trap 'rm -f "$rules_file"' EXIT
  echo "$rules" >"$rules_file"
  run gcloud storage buckets update "$bucket" "${common[@]}" \
    --lifecycle-file="$rules_file"
fi
# objectUser: read, write, list and delete objects; nothing on the bucket itself.
member="serviceAccount:$SERVICE_ACCOUNT"
role=roles/storage.objectUser
policy=$(gcloud storage buckets get-iam-policy "$bucket" "${common[@]}" --format=json \
  2>/dev/null || true)
if MEMBER="$member" ROLE="$role" python3 -c '
import json, os, sys
try:
    policy = json.load(sys.stdin) or {}
except ValueError:
    policy = {}
sys.exit(not any(b.get("role") == os.environ["ROLE"]
                 and os.environ["MEMBER"] in b.get("members", ())
                 for b in policy.get("bindings", ())))' <<<"$policy"; then
  echo "share-bucket: $SERVICE_ACCOUNT may use the objects of $bucket already" >&2
else
  echo "share-bucket: $SERVICE_ACCOUNT may use the objects of $bucket" >&2
  run gcloud storage buckets add-iam-policy-binding "$bucket" "${common[@]}" \
    --member="$member" --role="$role" --quiet >/dev/null
fi
echo "share-bucket: deploy with SHARE_URL=gs://$path (workspaces: gs://${path%%/*}/${prefix%/})" >&2
