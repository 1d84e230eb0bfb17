#!/usr/bin/env bash
# Add a user of the auth variant (deploy/compose.auth.yml), or set a new password for one: a bcrypt line in
# AUTH_DIR/token/htpasswd, hashed by the registry image's Python (bcrypt is installed there), so the host needs
# nothing but Docker. The token service re-reads the file when it changes: no restart. What the user may do is in
# the access rules (AUTH_DIR/token/token.yml): with the example rules a new user pulls everything; a namespace of
# their own takes a rule like alice's, then `docker compose ... restart token`.
#
#   deploy/auth/add-user.sh NAME                    asks for the password (twice) on a terminal
#   printf '%s\n' "$PASSWORD" | deploy/auth/add-user.sh NAME      the first line of stdin
#
# With Apache's htpasswd on the host, the same: `htpasswd -B AUTH_DIR/token/htpasswd NAME`. To remove a user,
# delete their line.
#
# Environment: AUTH_DIR (default deploy/auth/secrets, as setup.sh), REGISTRY_IMAGE (default registry-python:latest),
# BCRYPT_COST (default 10).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

DIR=${AUTH_DIR:-$here/secrets}
IMAGE=${REGISTRY_IMAGE:-registry-python:latest}
COST=${BCRYPT_COST:-10}
FILE=$DIR/token/htpasswd

die() {
  printf 'add-user: %s\n' "$*" >&2
  exit 1
}

[[ $# == 1 ]] || die "usage: $0 NAME (the password on stdin)"
name=$1
# The name appears in repository rules (alice/**) and in htpasswd lines (NAME:hash): keep it plain.
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._@-]*$ ]] || die "a name is letters, digits and . _ @ - (got '$name')"
[[ $name != anonymous ]] || die "'anonymous' means requests without credentials in the access rules"
[[ -f $FILE ]] || die "$FILE is missing: run deploy/auth/setup.sh first"

if [[ -t 0 ]]; then
  read -r -s -p "password for $name: " password
  echo >&2
  read -r -s -p "again: " again
  echo >&2
  [[ $password == "$again" ]] || die "the passwords differ"
else
  IFS= read -r password || [[ -n $password ]] || die "no password on stdin"
fi
[[ -n $password ]] || die "the password is empty"
# bcrypt reads at most 72 bytes.
((${#password} <= 72)) || die "the password is longer than 72 characters"

# The password goes to the container on its stdin, never on a command line.
hash=$(printf '%s' "$password" | docker run --rm -i --network none --entrypoint python "$IMAGE" -c "
import sys, bcrypt
print(bcrypt.hashpw(sys.stdin.buffer.read(), bcrypt.gensalt(rounds=$COST)).decode())") ||
  die "hashing failed (is $IMAGE built? make images, or docker compose ... build)"
[[ $hash == \$2* ]] || die "unexpected hash from $IMAGE"

# A new file with this user's line replaced (or added), renamed over the old one: the token service never reads a
# half-written file (compose mounts the directory, so it sees the new file). Owner and mode are kept.
tmp=$(mktemp "$FILE.XXXXXX")
trap 'rm -f "$tmp"' EXIT
awk -F: -v user="$name" '$1 != user' "$FILE" >"$tmp"
printf '%s:%s\n' "$name" "$hash" >>"$tmp"
chown --reference="$FILE" "$tmp" 2>/dev/null || true
chmod --reference="$FILE" "$tmp"
if awk -F: -v user="$name" '$1 == user { found = 1 } END { exit !found }' "$FILE"; then
  action="password changed"
else
  action="added"
fi
mv "$tmp" "$FILE"
trap - EXIT
echo "add-user: $name $action in $FILE" >&2
