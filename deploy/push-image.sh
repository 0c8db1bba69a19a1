#!/usr/bin/env bash
# Push the image the pipeline built and checked to the registry, tagged with the
# commit SHA and `latest`, and print its reference by digest (REPOSITORY@sha256:...),
# which is what deploy/deploy.sh deploys: a tag can move, a digest cannot.
#
#   deploy/push-image.sh LOCAL_IMAGE REPOSITORY COMMIT_SHA
#   deploy/push-image.sh dashboard:ci gcr.io/my-project/dashboard "$GITHUB_SHA"
#
# LATEST=false leaves `latest` alone (a pull request's preview image).
# Docker must already be logged in to the registry
# (`gcloud auth configure-docker gcr.io` or LOCATION-docker.pkg.dev).
# Progress goes to stderr; stdout is only the digest reference.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 LOCAL_IMAGE REPOSITORY COMMIT_SHA" >&2
  exit 2
fi
local_image=$1
repository=$2
sha=$3

case "$repository" in
  *@* | *:*)
    echo "push-image: REPOSITORY takes no tag or digest: $repository" >&2
    exit 2
    ;;
esac
if ! [[ "$sha" =~ ^[0-9a-f]{7,40}$ ]]; then
  echo "push-image: COMMIT_SHA must be a hex commit id: $sha" >&2
  exit 2
fi

tags=("$sha")
if [ "${LATEST:-true}" != false ]; then
  tags+=(latest)
fi
for tag in "${tags[@]}"; do
  docker tag "$local_image" "$repository:$tag"
  docker push "$repository:$tag" >&2
done

digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' \
  "$repository:$sha" | awk -v prefix="$repository@sha256:" 'index($0, prefix) == 1 { print; exit }')
if [ -z "$digest" ]; then
  echo "push-image: no digest for $repository:$sha after the push" >&2
  exit 1
fi
echo "$digest"
