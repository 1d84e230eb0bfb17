#!/usr/bin/env bash
# Build the registry image from deploy/Dockerfile (context: the repository root).
#
#   deploy/build-image.sh           on python:3.11-slim, dependencies from PyPI (what users do; needs the network)
#   deploy/build-image.sh --local   offline: on registry-local-base:bookworm (deploy/build-local-base.sh) with the
#                                   wheels of .venv's dependency versions, built on this host into deploy/wheels/
#
# Environment: REGISTRY_IMAGE (default registry-python:latest), LOCAL_BASE_IMAGE, PYTHON (the host python 3.11
# with pip; default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${REGISTRY_IMAGE:-registry-python:latest}
LOCAL_BASE=${LOCAL_BASE_IMAGE:-registry-local-base:bookworm}
PYTHON=${PYTHON:-.venv/bin/python}
WHEELS=deploy/wheels
PROJECT=(./shared ./services/blob-read ./services/blob-write ./services/descriptor-cache ./services/purger
  ./services/token ./services/all-in-one)

log() { printf '== %s\n' "$*" >&2; }

local_build=false
case "${1:-}" in
  --local) local_build=true ;;
  "") ;;
  *)
    echo "usage: $0 [--local]" >&2
    exit 2
    ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

build_args=()
if $local_build; then
  docker image inspect "$LOCAL_BASE" >/dev/null 2>&1 || {
    echo "build-image: $LOCAL_BASE is missing: run deploy/build-local-base.sh" >&2
    exit 1
  }
  # The dependency versions the tests ran with (.venv), so the image runs what was tested.
  constraints=$tmp/constraints.txt
  project_wheels=$tmp/project-wheels
  mkdir "$project_wheels"
  "$PYTHON" -m pip freeze --exclude-editable |
    grep -v -i -E "^(-e |registry[-_]|setuptools==|pip==|wheel==)" >"$constraints"
  py=$(docker run --rm --network none "$LOCAL_BASE" python3 -c 'import platform; print(platform.python_version())')
  stamp=$(cat "$constraints" "$0" shared/pyproject.toml services/*/pyproject.toml <(echo "$py") |
    sha256sum | cut -c1-16)
  if [[ -f $WHEELS/requirements.txt && $(cat "$WHEELS/.stamp" 2>/dev/null) == "$stamp" ]]; then
    log "wheels in $WHEELS are up to date"
  else
    # Wheels for the base's interpreter, not this host's. Our packages as wheels first (pure Python), then every
    # dependency of registry-server (the all-in-one package depends on all of them) plus the build backend.
    abi=cp$(cut -d. -f1,2 <<<"$py" | tr -d .)
    arch=$(uname -m)
    target=(--only-binary=:all: --implementation cp --python-version "$py" --abi "$abi" --abi abi3 --abi none
      --platform "manylinux_2_36_$arch" --platform "manylinux_2_28_$arch" --platform "manylinux2014_$arch"
      --platform any)
    # Absolute, and in the environment too: pip's isolated build environments read find-links from there.
    export PIP_FIND_LINKS="$PWD/$WHEELS $project_wheels"
    wheels() {
      timeout 900 "$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$project_wheels" "$@" "${PROJECT[@]}" &&
        timeout 900 "$PYTHON" -m pip download -q --dest "$WHEELS" --constraint "$constraints" "${target[@]}" \
          "$@" registry-server 'setuptools>=68'
    }
    log "wheels of the dependencies in $WHEELS (for python $py)"
    if ! wheels --no-index >/dev/null 2>&1; then
      log "(some are missing: downloading them)"
      wheels
    fi
    # The host's pip evaluates environment markers (python_full_version...) for the host's interpreter: let the
    # base's pip resolve offline from these wheels, fetch what it misses until it misses nothing, and keep the
    # set it resolved: that is requirements.txt.
    resolved=""
    for attempt in 1 2 3 4 5; do
      out=$(docker run --rm --network none -v "$PWD/$WHEELS:/wheels:ro" "$LOCAL_BASE" sh -c \
        'python3 -m venv /tmp/v && /tmp/v/bin/pip download -q --no-index --find-links /wheels -d /tmp/d \
           registry-server 2>&1 && ls /tmp/d' 2>&1) && {
        resolved=$out
        break
      }
      missing=$(sed -n 's/.*No matching distribution found for \([^; ]*\).*/\1/p' <<<"$out")
      if [[ -z $missing || $attempt == 5 ]]; then
        echo "build-image: the base image's pip cannot install registry-server from $WHEELS:" >&2
        echo "$out" | tail -n 20 >&2
        exit 1
      fi
      log "also for python $py: $missing"
      timeout 900 "$PYTHON" -m pip download -q --dest "$WHEELS" --constraint "$constraints" "${target[@]}" "$missing"
    done
    # requirements.txt: the resolved third-party wheels (the project installs from the source tree). Other
    # wheels (older versions, the project's) would only weigh on the build context: removed.
    (
      cd "$WHEELS"
      for wheel in *.whl; do
        grep -qxF "$wheel" <<<"$resolved" || [[ $wheel == setuptools-* ]] || rm -f "$wheel"
      done
      grep '\.whl$' <<<"$resolved" | grep -v '^registry_' |
        awk -F- '{ name = tolower($1); gsub(/_/, "-", name); print name "==" $2 }' | sort >requirements.txt
      rm -f registry_*.whl
    )
    echo "$stamp" >"$WHEELS/.stamp"
  fi
  build_args=(--build-arg "BASE_IMAGE=$LOCAL_BASE" --build-arg "PIP_INSTALL_OPTIONS=--no-index")
fi

log "docker build $IMAGE${build_args:+ (${build_args[*]})}"
previous=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if ! timeout 1200 docker build --force-rm -f deploy/Dockerfile -t "$IMAGE" "${build_args[@]}" . \
  >"$tmp/build.log" 2>&1; then
  tail -n 60 "$tmp/build.log" >&2
  echo "build-image: docker build failed" >&2
  exit 1
fi
# The image this one replaces would linger untagged: remove it unless a container still uses it.
current=$(docker image inspect --format '{{.Id}}' "$IMAGE")
if [[ -n $previous && $previous != "$current" ]]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
# The build stage stays as an untagged image (the cache of the next build); older ones are only weight.
docker image ls -q --filter dangling=true --filter label=org.registry.stage=build | tail -n +2 |
  xargs -r docker rmi >/dev/null 2>&1 || true
docker image ls --format '== {{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE" >&2
