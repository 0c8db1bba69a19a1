#!/usr/bin/env bash
# Make local stand-ins for the official Python base images, for machines that can
# reach Debian's package mirror and PyPI but not Docker Hub. Used by
# deploy/container-test.sh with podman; never by the pipeline, which pulls the
# real images.
#
#   deploy/standin-base.sh            # builds once, then reuses what exists
#
# The stand-in is Debian bookworm (minbase) with Debian's Python 3.11, venv and pip,
# tagged with the names the Dockerfiles expect:
#   docker.io/library/python:3.11-slim-bookworm   (what container-test.sh builds Dockerfile.prod from: it rewrites the digest-pinned FROM lines)
#   docker.io/library/python:3.11-buster          (the local Dockerfile's base)
# It mirrors what the Dockerfiles rely on: `python` and `pip` on PATH, pip allowed
# to install outside a virtual environment, LANG=C.UTF-8. This machine's CA bundle
# goes into the stand-in (with PIP_CERT/SSL_CERT_FILE) so that pip inside a build
# trusts the same certificates as the host; the real Dockerfiles carry none.
#
# Environment: PODMAN (the podman command with its global options; default podman
# with PODMAN_OPTS, as in deploy/container-test.sh),
# DEBIAN_MIRROR (default: the mirror of this machine's apt sources),
# STANDIN_SUITE (default bookworm), HOST_CA_BUNDLE.
set -euo pipefail

read -r -a podman <<<"${PODMAN:-podman ${PODMAN_OPTS:---runtime runc --storage-driver vfs --cgroup-manager cgroupfs --events-backend file}}"
suite="${STANDIN_SUITE:-bookworm}"
ca_bundle="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
images=(
  docker.io/library/python:3.11-slim-bookworm
  docker.io/library/python:3.11-buster
)
# The recipe's version, as a label: a stand-in made by an older recipe is made again.
recipe=2

missing=()
for image in "${images[@]}"; do
  made=$("${podman[@]}" image inspect --format '{{ index .Config.Labels "dashboard.standin" }}' \
    "$image" 2>/dev/null || true)
  if [ "$made" != "$recipe" ]; then
    missing+=("$image")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "stand-in base images present: ${images[*]}"
  exit 0
fi

# The Debian mirror apt already uses here (deb822 .sources or one-line format).
mirror_from_apt() {
  local file uri
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    uri=$(awk 'tolower($1) == "uris:" { print $2; exit }' "$file")
    case "$uri" in
      *security*) ;;
      http*) echo "$uri"; return 0 ;;
    esac
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    uri=$(awk '$1 == "deb" && $2 !~ /security/ && $2 ~ /^http/ && $2 ~ /debian/ { print $2; exit }' "$file")
    if [ -n "$uri" ]; then
      echo "$uri"
      return 0
    fi
  done
  echo "http://deb.debian.org/debian"
}
mirror="${DEBIAN_MIRROR:-$(mirror_from_apt)}"

for tool in debootstrap tar; do
  if ! command -v "$tool" >/dev/null; then
    echo "standin-base: $tool is missing (apt-get install debootstrap)" >&2
    exit 1
  fi
done

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
rootfs="$workdir/rootfs"

echo "standin-base: debootstrap $suite from $mirror (about a minute)"
start=$SECONDS
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates \
  "$suite" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
  tail -n 30 "$workdir/debootstrap.log" >&2
  exit 1
}

# As the official images have them: `python` and `pip` on PATH, and pip free to
# install into the system Python (no EXTERNALLY-MANAGED marker).
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
if [ -f "$ca_bundle" ]; then
  cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
# As small as Debian's slim images, which the official ones start from: no
# package caches or lists, documentation or translated messages (slim images
# exclude /usr/share/locale; here it would be 33 MB of the measured base).
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/usr/share/locale/*

cert=/etc/ssl/certs/ca-certificates.crt
changes=(
  --change "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
  --change "ENV LANG=C.UTF-8"
  --change "ENV PIP_CERT=$cert"
  --change "ENV SSL_CERT_FILE=$cert"
  --change "ENV REQUESTS_CA_BUNDLE=$cert"
  --change 'CMD ["python3"]'
  --change "LABEL dashboard.standin=$recipe"
)
tar --numeric-owner -C "$rootfs" -c . | "${podman[@]}" import --quiet "${changes[@]}" \
  - "${images[0]}" >/dev/null
for image in "${images[@]:1}"; do
  "${podman[@]}" tag "${images[0]}" "$image"
done
echo "standin-base: imported ${images[*]} in $((SECONDS - start)) s"
