#!/usr/bin/env bash
# The generated image as users run it, with podman: how long a stop takes at moments from start-up
# to serving, that the HEALTHCHECK passes, and what a root-owned bind mount says.
#
#   tests/manual/container_check.sh PROJECT_DIR [PORT]
#
# PROJECT_DIR is a rendered project (mlgen render samples/topics/backend.yaml -o DIR). Needs podman
# (Debian: apt-get install podman podman-compose runc). Where Docker Hub is out of reach, tag a
# stand-in base image first: a Debian bookworm rootfs (debootstrap --variant=minbase
# --include=python3,python3-venv,python3-pip bookworm rootfs), with /usr/local/bin/python and pip
# linked to python3 and pip3 and EXTERNALLY-MANAGED removed, imported as python:3.11-slim:
#   tar -C rootfs -c . | podman import - docker.io/library/python:3.11-slim
# A stop during a training is checked by benchmarks-style load in the closing notes; this script
# covers what needs no data.
set -euo pipefail
project=${1:?usage: container_check.sh PROJECT_DIR [PORT]}
port=${2:-9190}
image=mlgen-container-check
run=(podman run -d --network host -e "PORT=$port")

podman build --format docker --network host -t "$image" "$project" >/dev/null
podman rm -f mcc >/dev/null 2>&1 || true
for delay in 0.05 0.2 0.5 1 2 4; do
  "${run[@]}" --name mcc "$image" >/dev/null
  sleep "$delay"
  health=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
  start=$(date +%s.%N)
  podman stop mcc >/dev/null
  end=$(date +%s.%N)
  printf 'stop %4ss after start (health %s): %.2f s, exit %s\n' "$delay" "$health" \
    "$(echo "$end - $start" | bc)" "$(podman inspect mcc --format '{{.State.ExitCode}}')"
  podman rm mcc >/dev/null
done

"${run[@]}" --name mcc "$image" >/dev/null
sleep 4
podman healthcheck run mcc 2>/dev/null && echo "healthcheck: healthy"
echo "PID 1: $(podman exec mcc sh -c 'tr "\0" " " < /proc/1/cmdline')"
podman rm -f mcc >/dev/null

state=$(mktemp -d)
podman run -d --name mcc --network host -e "PORT=$port" -v "$state:/data" "$image" >/dev/null
sleep 4
echo "root-owned bind mount: $(podman logs mcc 2>&1 | grep -m1 'error:' || echo 'no error line')"
podman rm -f mcc >/dev/null
rm -rf "$state"
