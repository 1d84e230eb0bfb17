#!/usr/bin/env bash
# Build, without pulling anything from an image registry, the images that the local compose override
# (deploy/compose.local.yml) uses instead of public ones:
#
#   registry-local-base:bookworm  a minimal Debian bookworm made with debootstrap: python3 (3.11) + python3-venv
#                                 (the base of the registry image), nginx-light (the gateway), redis-server
#                                 (Redis); one base for the three, each service picks its command
#   registry-local-s3:latest      moto's S3 server (moto[server] from wheels downloaded on this host), for MinIO
#
# Both are cached: the base by a key over the suite, mirror, package list and this recipe (a label on the image,
# plus the rootfs tarball under $CACHE_DIR, so that a pruned image is re-imported without debootstrap), the S3
# image by docker's build cache over the same wheels. A second run takes seconds.
#
# Needs Docker; on a cold cache also root, debootstrap (installed here when missing) and the Debian mirror.
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, LOCAL_BASE_IMAGE,
# LOCAL_S3_IMAGE, REGISTRY_BUILD_CACHE (cache directory), PYTHON (the host python with pip, for the wheels).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE_IMAGE=${LOCAL_BASE_IMAGE:-registry-local-base:bookworm}
S3_IMAGE=${LOCAL_S3_IMAGE:-registry-local-s3:latest}
CACHE_DIR=${REGISTRY_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/registry-deploy}
PYTHON=${PYTHON:-.venv/bin/python}
PACKAGES=(python3 python3-venv nginx-light redis-server ca-certificates)
RECIPE_VERSION=1 # bump when the rootfs recipe below changes
LABEL=org.registry.local-base.key

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf 'build-local-base: %s\n' "$*" >&2
  exit 1
}

command -v docker >/dev/null || die "docker is not installed"
mkdir -p "$CACHE_DIR"

# -- the base: debootstrap once, then import the cached tarball ---------------------------------------------------
key=$(printf '%s\n' "$RECIPE_VERSION" "$SUITE" "$MIRROR" "$SECURITY_MIRROR" "${PACKAGES[@]}" | sha256sum | cut -c1-16)
rootfs_tar="$CACHE_DIR/rootfs-$SUITE-$key.tar"

unmount_below() { # every mount at or below $1, deepest first
  { findmnt -R -n -l -o TARGET "$1" 2>/dev/null || true; } | sort -r | xargs -r -n1 umount -l
}

make_rootfs() {
  [[ $(id -u) == 0 ]] || die "debootstrap needs root (only on a cold cache: $rootfs_tar is missing)"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  local work root
  work=$(mktemp -d "$CACHE_DIR/work.XXXXXX")
  root="$work/rootfs"
  # debootstrap mounts /proc and /sys inside the target: unmount before removing, and never cross a mount.
  # shellcheck disable=SC2064
  trap "unmount_below '$root'; rm -rf --one-file-system '$work'" EXIT
  log "debootstrap $SUITE (${PACKAGES[*]}) from $MIRROR"
  timeout 1800 debootstrap --variant=minbase --components=main --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -n 40 "$work/debootstrap.log" >&2
    die "debootstrap failed"
  }
  log "security updates"
  cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  timeout 900 chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get upgrade -y -qq --no-install-recommends && apt-get clean' \
    >"$work/upgrade.log" 2>&1 || {
    tail -n 40 "$work/upgrade.log" >&2
    die "apt-get upgrade in the rootfs failed"
  }
  log "trimming"
  unmount_below "$root"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/etc/resolv.conf "$root"/etc/hostname "$root"/tmp/* "$root"/root/.cache
  # The packages' own service configurations are not used (every container is given its command).
  rm -f "$root"/etc/nginx/sites-enabled/default
  tar -C "$root" --numeric-owner -cf "$rootfs_tar.partial" .
  mv "$rootfs_tar.partial" "$rootfs_tar"
  rm -rf --one-file-system "$work"
  trap - EXIT
}

current=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$BASE_IMAGE" 2>/dev/null || true)
if [[ $current == "$key" ]]; then
  log "$BASE_IMAGE is up to date ($key)"
else
  [[ -f $rootfs_tar ]] || make_rootfs
  log "docker import $rootfs_tar as $BASE_IMAGE"
  docker import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "LABEL $LABEL=$key" \
    --change 'CMD ["/bin/bash"]' \
    "$rootfs_tar" "$BASE_IMAGE" >/dev/null
  # Older rootfs tarballs of other keys are dead weight.
  find "$CACHE_DIR" -maxdepth 1 -name "rootfs-$SUITE-*.tar" ! -name "rootfs-$SUITE-$key.tar" -delete
fi

# -- the S3 server: moto from wheels made on this host -------------------------------------------------------------
moto_version=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || echo "")
moto_req="moto[server]${moto_version:+==$moto_version}"
context="$CACHE_DIR/s3-context"
mkdir -p "$context/wheels"
if ! timeout 300 "$PYTHON" -m pip wheel -q --no-index --find-links "$context/wheels" --wheel-dir "$context/wheels" \
  "$moto_req" >/dev/null 2>&1; then
  log "downloading the wheels of $moto_req"
  timeout 900 "$PYTHON" -m pip wheel -q --wheel-dir "$context/wheels" "$moto_req"
fi
cat >"$context/Dockerfile" <<'EOF'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG MOTO_REQUIREMENT
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/moto \
 && /opt/moto/bin/pip install -q --no-cache-dir --no-index --find-links /tmp/wheels "${MOTO_REQUIREMENT}" \
 && rm -rf /tmp/wheels \
 && mkdir /data && chown 65534:65534 /data
# Objects larger than moto's in-memory buffer spill to TMPDIR: the S3 data volume, mounted on /data.
ENV TMPDIR=/data
USER 65534:65534
EXPOSE 9000
HEALTHCHECK --interval=5s --timeout=3s --retries=10 \
  CMD ["/opt/moto/bin/python", "-c", \
       "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/', timeout=2)"]
CMD ["/opt/moto/bin/moto_server", "-H", "0.0.0.0", "-p", "9000"]
EOF
log "docker build $S3_IMAGE ($moto_req)"
timeout 900 docker build -q --force-rm --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "MOTO_REQUIREMENT=$moto_req" \
  -t "$S3_IMAGE" "$context" >/dev/null
log "done: $BASE_IMAGE, $S3_IMAGE"
