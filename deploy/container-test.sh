#!/usr/bin/env bash
# `make container-test`: build project/Dockerfile.prod and project/Dockerfile, then
# check each from the outside with deploy/container_check.py (health, page,
# non-root, $PORT, SIGTERM, contents, size).
#
# Engine: Docker when an engine answers (`docker info`); otherwise podman, with
# stand-ins for the official python base images made from Debian's packages by
# deploy/standin-base.sh (for machines that reach Debian's mirror and PyPI but
# not Docker Hub). CONTAINER_ENGINE=docker|podman forces one; PODMAN_OPTS replaces
# the podman options below (they suit a machine without systemd or overlayfs).
#
# Environment: CONTAINER_TEST_IMAGES="prod local" (which images; default both),
# MAX_IMAGE_MB (the production image's size limit; default 550),
# KEEP_IMAGES=1 (keep the built images; by default they are removed, the
# stand-in base images are kept for the next run).
set -euo pipefail
cd "$(dirname "$0")/.."

images="${CONTAINER_TEST_IMAGES:-prod local}"
engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null; then
    engine=podman
  else
    echo "container-test: no Docker engine answers and podman is not installed" >&2
    echo "  (apt-get install podman runc debootstrap, or start Docker)" >&2
    exit 1
  fi
fi

case "$engine" in
  docker)
    cmd="docker"
    build_opts=()
    run_opts=()
    base_note="official base images from the registry"
    ;;
  podman)
    cmd="podman ${PODMAN_OPTS:---runtime runc --storage-driver vfs --cgroup-manager cgroupfs --events-backend file}"
    # No intermediate images (nothing to prune afterwards); never pull a base.
    build_opts=(--isolation chroot --pull=never --layers=false)
    run_opts=(--run-arg=--ulimit=nofile=20000:20000 --run-arg=--ulimit=nproc=1024:1024)
    base_note="stand-in base images built from Debian's packages (deploy/standin-base.sh)"
    PODMAN="$cmd" bash deploy/standin-base.sh
    ;;
  *)
    echo "container-test: unknown CONTAINER_ENGINE=$engine (docker or podman)" >&2
    exit 1
    ;;
esac
read -r -a engine_cmd <<<"$cmd"
echo "container-test: engine $engine, $base_note"

# What a stand-in cannot show for python:3.11-buster (Python 3.11.4 on glibc 2.28):
# that every pinned requirement has a wheel for it. pip resolves them for that
# platform without installing anything.
buster_wheels() {
  local platforms=() i cert=()
  for i in $(seq 5 28); do platforms+=(--platform "manylinux_2_${i}_x86_64"); done
  platforms+=(--platform manylinux1_x86_64 --platform manylinux2010_x86_64
    --platform manylinux2014_x86_64)
  if [ -n "${PIP_CERT:-}" ]; then cert=(--cert "$PIP_CERT"); fi
  python3 -m pip --isolated install --disable-pip-version-check "${cert[@]}" \
    --dry-run --ignore-installed --no-deps --only-binary=:all: "${platforms[@]}" \
    --python-version 3.11.4 --implementation cp --abi cp311 --abi abi3 --abi none \
    --target "$(mktemp -d)" -r project/requirements.txt
}

tag_prefix="localhost/dashboard-container-test"
built=()
cleanup() {
  if [ "${KEEP_IMAGES:-0}" != 1 ] && [ "${#built[@]}" -gt 0 ]; then
    # The base images stay for the next run.
    "${engine_cmd[@]}" rmi --force "${built[@]}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

total_passed=0
total_failed=0
summary=()
for name in $images; do
  case "$name" in
    prod)
      dockerfile=project/Dockerfile.prod
      base=docker.io/library/python:3.11-slim-bookworm
      ;;
    local)
      dockerfile=project/Dockerfile
      base=docker.io/library/python:3.11-buster
      ;;
    *)
      echo "container-test: unknown image '$name' (prod or local)" >&2
      exit 1
      ;;
  esac
  image="$tag_prefix:$name"
  if [ "$name" = local ] && [ "$engine" = podman ]; then
    start=$SECONDS
    if buster_wheels >/dev/null 2>&1; then
      echo "PASS  every pinned requirement has a wheel for Python 3.11.4 on glibc 2.28 (buster)  ($((SECONDS - start)) s)"
      total_passed=$((total_passed + 1))
    else
      buster_wheels 2>&1 | tail -n 5 >&2 || true
      echo "FAIL  every pinned requirement has a wheel for Python 3.11.4 on glibc 2.28 (buster)"
      total_failed=$((total_failed + 1))
    fi
  fi
  echo "== build $dockerfile -> $image"
  start=$SECONDS
  log=$(mktemp)
  build_file=$dockerfile
  if [ "$engine" = podman ]; then
    # The Dockerfile names its base by digest, which only the registry has: build
    # a copy whose FROM lines name the stand-in instead (nothing else changes).
    build_file=$(mktemp)
    sed -E "s#^FROM python:[^ ]+@sha256:[0-9a-f]{64}#FROM $base#" "$dockerfile" >"$build_file"
  fi
  if ! "${engine_cmd[@]}" build "${build_opts[@]}" -f "$build_file" -t "$image" project/ >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    echo "FAIL  $dockerfile builds" >&2
    total_failed=$((total_failed + 1))
    summary+=("$dockerfile: build failed")
    continue
  fi
  rm -f "$log"
  built+=("$image")
  echo "PASS  $dockerfile builds  ($((SECONDS - start)) s)"
  total_passed=$((total_passed + 1))

  out=$(mktemp)
  set +e
  limit=()
  if [ "$name" = prod ]; then
    # The production image may not grow past this (docs/deploy.md, "Sizes").
    limit=(--max-mb "${MAX_IMAGE_MB:-550}")
  fi
  python3 deploy/container_check.py "$image" --engine "$cmd" --base "$base" \
    "${limit[@]}" "${run_opts[@]}" | tee "$out"
  status=${PIPESTATUS[0]}
  set -e
  passed=$(grep -c '^PASS ' "$out" || true)
  failed=$(grep -c '^FAIL ' "$out" || true)
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # the checker itself stopped: count it
  fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  summary+=("$dockerfile: $(grep '^image size' "$out" | head -n 1)")
  rm -f "$out"
done

echo "== summary ($engine)"
printf '  %s\n' "${summary[@]}"
echo "container-test: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
