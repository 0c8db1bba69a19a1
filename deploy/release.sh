#!/usr/bin/env bash
# Release an image without risk: deploy it as a revision with no traffic
# (deploy/deploy.sh), smoke-test that revision at its tag's URL
# (deploy/smoke.py), and only then move all traffic to it (deploy/promote.sh).
# If the smoke test fails, traffic never moves: the serving revision keeps it.
#
#   SERVICE=dashboard REGION=europe-west1 deploy/release.sh IMAGE@sha256:DIGEST
#   PREVIEW=pr-12 ... deploy/release.sh IMAGE@sha256:DIGEST   # a preview: tag pr-12,
#                                                             # smoke-tested, no traffic
#
# Everything deploy/deploy.sh takes, and:
#   PREVIEW          a tag for a preview revision; nothing is promoted
#   SMOKE_IDENTITY   "true": the smoke test sends an identity token of the
#                    deploying identity (for a service that needs one: it must
#                    hold roles/run.invoker on the service)
#   SMOKE_LOGIN      "user:password" of the app's login (AUTH_USERS), if it has one
#   SMOKE_ATTEMPTS, SMOKE_DELAY  tries per check and seconds between [10, 6]
#   GITHUB_OUTPUT    when set, gets url= (the service's, or the preview's), revision=
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: SERVICE=... REGION=... [PREVIEW=pr-N] $0 IMAGE@sha256:DIGEST" >&2
  exit 2
fi
here=$(dirname "$0")
tag="${PREVIEW:-candidate}"

deployed=$(DEPLOY_TAG="$tag" GITHUB_OUTPUT="" bash "$here/deploy.sh" "$1")
url=$(sed -n 's/^url=//p' <<<"$deployed")
revision=$(sed -n 's/^revision=//p' <<<"$deployed")
tag_url=$(sed -n 's/^tag_url=//p' <<<"$deployed")

if [ "${SMOKE_IDENTITY:-false}" = true ]; then
  # The audience is the service's URL, which its tag URLs accept too.
  SMOKE_ID_TOKEN=$(gcloud auth print-identity-token --audiences="$url")
  export SMOKE_ID_TOKEN
fi
if ! python3 "$here/smoke.py" "$tag_url" \
  --attempts "${SMOKE_ATTEMPTS:-10}" --delay "${SMOKE_DELAY:-6}" >&2; then
  echo "release: revision $revision failed its smoke test at $tag_url;" \
    "traffic was NOT moved (the serving revision keeps it)" >&2
  exit 1
fi

if [ -n "${PREVIEW:-}" ]; then
  shown=$tag_url
  echo "release: preview $PREVIEW is revision $revision at $tag_url (no traffic)" >&2
else
  bash "$here/promote.sh" "$revision"
  shown=$url
  echo "release: revision $revision serves all traffic at $url" >&2
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "url=$shown"
    echo "revision=$revision"
  } >>"$GITHUB_OUTPUT"
fi
echo "$shown"
