#!/usr/bin/env bash
# Print the image (by digest) of each revision that serves traffic: what the
# weekly re-scan scans. A revision deployed with no traffic (a candidate that
# failed its smoke test, a preview) is not serving and is left out.
#
#   SERVICE=dashboard REGION=europe-west1 deploy/serving-image.sh
set -euo pipefail

: "${SERVICE:?set SERVICE to the Cloud Run service name}"
: "${REGION:?set REGION to the Cloud Run region}"
common=(--region="$REGION")
if [ -n "${PROJECT:-}" ]; then
  common+=(--project="$PROJECT")
fi
described=$(gcloud run services describe "$SERVICE" "${common[@]}" --format=json)
revisions=$(python3 -c '
import json, sys
status = json.load(sys.stdin).get("status", {})
for entry in status.get("traffic", []):
    if entry.get("percent") and entry.get("revisionName"):
        print(entry["revisionName"])' <<<"$described" | sort -u)
if [ -z "$revisions" ]; then
  echo "serving-image: $SERVICE has no revision serving traffic" >&2
  exit 1
fi
while read -r revision; do
  gcloud run revisions describe "$revision" "${common[@]}" \
    --format='value(spec.containers[0].image)'
done <<<"$revisions"
