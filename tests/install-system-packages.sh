#!/usr/bin/env bash
# Installs the Debian packages whose commands tests/system-packages.txt lists and this machine lacks.
# As root: `apt-get update` (a fresh machine has no package lists), then `apt-get install`. As another user, or
# without apt-get: prints the one command to run and fails, so that no test runs without its tools.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
while read -r command package; do
  [[ -z "$command" || "$command" == \#* ]] && continue
  if [[ "$command" == /* ]]; then [[ -x "$command" ]] && continue; else command -v "$command" >/dev/null && continue; fi
  missing+=("$package")
done <system-packages.txt
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "The tests need these Debian packages; install them, then run make test again:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "== installing the Debian packages the tests need: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
