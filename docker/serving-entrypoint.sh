#!/bin/sh
# Serving image entry point. prometheus_client's multiprocess mode needs its directory set
# before gunicorn imports anything and wiped at start; the workers' shared state directory
# must not outlive the server either (an emptyDir survives a container restart). Then exec,
# so gunicorn's master is PID 1 and receives SIGTERM itself.
set -eu
metrics_dir=${PROMETHEUS_MULTIPROC_DIR:-${SERVING_METRICS_DIR:-/tmp/serving-metrics}}
state_dir=${SERVING_STATE_DIR:-/tmp/serving-state}
for dir in "$metrics_dir" "$state_dir"; do
  mkdir -p "$dir"
  find "$dir" -mindepth 1 -delete
done
export PROMETHEUS_MULTIPROC_DIR="$metrics_dir" SERVING_STATE_DIR="$state_dir"
# A repository without its own repository.json gets the image's default one.
if [ -z "${SERVING_REPOSITORY_CONFIG:-}" ] \
  && [ ! -e "${SERVING_MODEL_REPOSITORY:-/models}/repository.json" ]; then
  export SERVING_REPOSITORY_CONFIG=/etc/keras-serving/repository.json
fi
exec gunicorn --config /app/service/gunicorn_conf.py "$@"
