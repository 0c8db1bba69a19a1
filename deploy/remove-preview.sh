#!/usr/bin/env bash
# Remove a preview's tag (its URL stops answering); its revision, which never
# had traffic, is left for Cloud Run's own revision limit.
#
#   SERVICE=dashboard REGION=europe-west1 deploy/remove-preview.sh pr-12
set -euo pipefail

if [ "$#" -ne 1 ] || ! [[ "$1" =~ ^pr-[0-9]+$ ]]; then
  echo "usage: SERVICE=... REGION=... $0 pr-N" >&2
  exit 2
fi
: "${SERVICE:?set SERVICE to the Cloud Run service name}"
: "${REGION:?set REGION to the Cloud Run region}"
common=(--region="$REGION")
if [ -n "${PROJECT:-}" ]; then
  common+=(--project="$PROJECT")
fi
tags=$(gcloud run services describe "$SERVICE" "${common[@]}" \
  --format='value(status.traffic.tag)')
if ! tr ';, ' '\n\n\n' <<<"$tags" | grep -qx -- "$1"; then
  echo "remove-preview: $SERVICE has no tag $1; nothing to do" >&2
  exit 0
fi
gcloud run services update-traffic "$SERVICE" "${common[@]}" --remove-tags="$1" --quiet
echo "remove-preview: tag $1 removed from $SERVICE" >&2
