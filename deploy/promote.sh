#!/usr/bin/env bash
# Send all of a service's traffic to one revision (one that passed its smoke test).
#
#   SERVICE=dashboard REGION=europe-west1 deploy/promote.sh REVISION
#
# Optional: PROJECT [gcloud's configured one].
set -euo pipefail

if [ "$#" -ne 1 ] || ! [[ "$1" =~ ^[a-z][a-z0-9-]*$ ]]; then
  echo "usage: SERVICE=... REGION=... $0 REVISION" >&2
  exit 2
fi
: "${SERVICE:?set SERVICE to the Cloud Run service name}"
: "${REGION:?set REGION to the Cloud Run region}"
common=(--region="$REGION")
if [ -n "${PROJECT:-}" ]; then
  common+=(--project="$PROJECT")
fi
echo "promote: all traffic of $SERVICE to $1" >&2
gcloud run services update-traffic "$SERVICE" "${common[@]}" \
  --to-revisions="$1=100" --quiet >&2
