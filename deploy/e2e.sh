#!/usr/bin/env bash
# `make e2e`: build the images offline, start the compose stack (local override) with 2 blob-read and 2 blob-write
# replicas on a free loopback port, run tests/integration/e2e against its gateway; then switch the same project to
# the auth variant (deploy/compose.auth.yml: secrets from deploy/auth/setup.sh in a temporary directory, TLS, the
# token service) and run test_e2e_auth.py against it; tear everything down, whatever happens (an EXIT trap; each
# step has its own time limit, so the whole run is bounded).
#
# Environment: E2E_PROJECT (compose project, default registry-e2e), E2E_TEST_TIMEOUT (seconds for pytest, 1800;
# the auth tests have E2E_AUTH_TEST_TIMEOUT, 600), E2E_AUTH=0 (skip the auth variant),
# E2E_KEEP=1 (leave the stack up after the run, for debugging: then `make down E2E_PROJECT=...`),
# PYTEST_ARGS (extra pytest arguments, e.g. "-k redis"), PYTHON (the venv's python).
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${E2E_PROJECT:-registry-e2e}
TEST_TIMEOUT=${E2E_TEST_TIMEOUT:-1800}
AUTH_TEST_TIMEOUT=${E2E_AUTH_TEST_TIMEOUT:-600}
PYTHON=${PYTHON:-.venv/bin/python}
READERS=2
WRITERS=2

log() { printf '== e2e: %s\n' "$*" >&2; }

if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_cmd=(docker-compose)
else
  echo "e2e: neither 'docker compose' nor docker-compose is installed" >&2
  exit 1
fi
compose=("${compose_cmd[@]}" -p "$PROJECT" -f "$PWD/deploy/compose.yml" -f "$PWD/deploy/compose.local.yml")

port=$("$PYTHON" -c 'from registry_core.testing.servers import free_port; print(free_port())')
export REGISTRY_PUBLISH="127.0.0.1:$port"
artifacts=$(mktemp -d "${TMPDIR:-/tmp}/registry-e2e.XXXXXX")
gateway_url="http://$REGISTRY_PUBLISH"

started=$SECONDS
teardown() {
  local status=$?
  trap - EXIT INT TERM
  if ((status != 0)); then
    log "failed ($status): the stack's state and last logs"
    timeout 60 "${compose[@]}" ps >&2 || true
    timeout 60 "${compose[@]}" logs --no-color --tail 60 >"$artifacts/compose.log" 2>&1 || true
    tail -n 200 "$artifacts/compose.log" >&2 || true
  fi
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    log "E2E_KEEP=1: the stack stays up (gateway $gateway_url, project $PROJECT; secrets in $artifacts/auth)"
  else
    log "tearing down"
    timeout 180 "${compose[@]}" down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || {
      log "compose down failed or timed out: removing the project's containers by label"
      docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker rm -f -v >/dev/null
      docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker network rm >/dev/null
      docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker volume rm >/dev/null
    }
  fi
  # Images the tests tagged for this run's gateway, should a test have been stopped before its own cleanup.
  docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$REGISTRY_PUBLISH/" |
    xargs -r docker rmi -f >/dev/null 2>&1 || true
  [[ ${E2E_KEEP:-0} == 1 ]] || rm -rf "$artifacts"
  log "total $((SECONDS - started)) s, exit $status"
  exit "$status"
}
# wait_for_gateway URL STATUS [CA_FILE]: until GET URL answers STATUS (over TLS verified against CA_FILE), 180 s.
wait_for_gateway() {
  local deadline=$((SECONDS + 180))
  until [[ $("$PYTHON" -c "
import ssl, sys
import httpx
url, cafile = sys.argv[1], sys.argv[2]
try:
    verify = ssl.create_default_context(cafile=cafile) if cafile else True
    print(httpx.get(url, verify=verify, timeout=2).status_code)
except httpx.HTTPError:
    print(0)
" "$1" "${3:-}") == "$2" ]]; do
    ((SECONDS < deadline)) || {
      echo "e2e: the gateway did not answer GET $1 with $2 within 180 s" >&2
      exit 1
    }
    sleep 1
  done
}

trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "leftovers of an earlier run"
timeout 180 "${compose[@]}" down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true

t0=$SECONDS
log "images (offline)"
bash deploy/build-local-base.sh
bash deploy/build-image.sh --local
log "images took $((SECONDS - t0)) s"

t0=$SECONDS
log "stack up: $READERS blob-read, $WRITERS blob-write, gateway on $REGISTRY_PUBLISH"
timeout 600 "${compose[@]}" up -d --no-build --scale "blob-read=$READERS" --scale "blob-write=$WRITERS" >&2
wait_for_gateway "http://$REGISTRY_PUBLISH/v2/" 200
log "stack up in $((SECONDS - t0)) s"

t0=$SECONDS
log "pytest -m e2e tests/integration/e2e"
export E2E_GATEWAY="http://$REGISTRY_PUBLISH"
export E2E_COMPOSE="${compose[*]}"
export E2E_BASE_IMAGE=${LOCAL_BASE_IMAGE:-registry-local-base:bookworm}
export E2E_ARTIFACTS="$artifacts"
# shellcheck disable=SC2086
timeout --kill-after=30 "$TEST_TIMEOUT" "$PYTHON" -m pytest -m e2e tests/integration/e2e -p no:cacheprovider \
  ${PYTEST_ARGS:-}
log "tests took $((SECONDS - t0)) s"

[[ ${E2E_AUTH:-1} == 1 ]] || exit 0

# -- the auth variant, on the same project: `up` with compose.auth.yml re-creates what it changes (the gateway, the
# registries) and adds the token service. From here on the teardown's compose command includes it.
t0=$SECONDS
auth_dir=$artifacts/auth
log "auth variant: secrets in $auth_dir (deploy/auth/setup.sh)"
AUTH_DIR=$auth_dir bash deploy/auth/setup.sh 2>&1 | sed 's/^/   /' >&2
export AUTH_DIR=$auth_dir AUTH_REALM="https://$REGISTRY_PUBLISH/token"
compose+=(-f "$PWD/deploy/compose.auth.yml")
gateway_url="https://$REGISTRY_PUBLISH"
timeout 600 "${compose[@]}" up -d --no-build --scale "blob-read=$READERS" --scale "blob-write=$WRITERS" >&2
# Up: GET /v2/ over TLS, verified against setup.sh's certificate, answers the token challenge.
wait_for_gateway "$gateway_url/v2/" 401 "$auth_dir/gateway/tls.crt"
log "auth variant up in $((SECONDS - t0)) s"

t0=$SECONDS
log "pytest -m e2e tests/integration/e2e/test_e2e_auth.py"
export E2E_AUTH_GATEWAY=$gateway_url E2E_AUTH_DIR=$auth_dir E2E_COMPOSE="${compose[*]}"
status=0
# shellcheck disable=SC2086
timeout --kill-after=30 "$AUTH_TEST_TIMEOUT" "$PYTHON" -m pytest -m e2e tests/integration/e2e/test_e2e_auth.py \
  -p no:cacheprovider ${PYTEST_ARGS:-} || status=$?
# 5: PYTEST_ARGS deselected every auth test (e.g. -k redis), which is not a failure.
((status == 0 || status == 5)) || exit "$status"
log "auth tests took $((SECONDS - t0)) s"
