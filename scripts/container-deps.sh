#!/usr/bin/env bash
# What the container tests need, made once and cached outside the repository:
#   - Debian's podman/buildah with runc (crun fails on this host's hybrid cgroups),
#   - a podman configuration of our own: host networking only (no bridges), cgroupfs,
#     layer storage under $STATE so image builds stay cached between runs,
#   - a local base image (no image registry is reachable): Debian bookworm made by
#     debootstrap from the apt mirror, imported as localhost/keras-serving-base:bookworm.
# The pytest container tests read the same $STATE (tests/containers.py). Idempotent.
set -euo pipefail
STATE=${KERAS_SERVING_CONTAINERS:-/var/cache/keras-serving/containers}
BASE_IMAGE=localhost/keras-serving-base:bookworm

need=()
for tool in podman:podman buildah:buildah runc:runc debootstrap:debootstrap \
  newuidmap:uidmap fuse-overlayfs:fuse-overlayfs slirp4netns:slirp4netns; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]} (install with: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$STATE"/{storage,run,tmp}
cat >"$STATE/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$STATE/tmp"
EOF
cat >"$STATE/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$STATE/storage"
runroot = "$STATE/run"
EOF
export CONTAINERS_CONF="$STATE/containers.conf" CONTAINERS_STORAGE_CONF="$STATE/storage.conf"

if ! podman image exists "$BASE_IMAGE"; then
  tarball="$STATE/base-bookworm.tar"
  if [ ! -s "$tarball" ]; then
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p; s/^deb \(http[^ ]*debian\)\/* bookworm .*/\1/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -n1 || true)
    rootfs=$(mktemp -d "$STATE/rootfs.XXXXXX")
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$STATE/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
  fi
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
fi
