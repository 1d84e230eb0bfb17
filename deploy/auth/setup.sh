#!/usr/bin/env bash
# The keys, certificates, users file and token service config of the auth variant (deploy/compose.auth.yml),
# made with openssl under AUTH_DIR (default deploy/auth/secrets, gitignored):
#
#   deploy/auth/setup.sh [NAME...]      NAME: extra host names or addresses of the gateway's TLS certificate
#                                       (it always covers 127.0.0.1, ::1 and localhost)
#
#   AUTH_DIR/token/token.key, token.crt   the token service's signing key (EC P-256) and its self-signed
#                                         certificate (10 years)
#   AUTH_DIR/token/htpasswd               the users, empty at first: deploy/auth/add-user.sh NAME
#   AUTH_DIR/token/token.yml              the token service's config and access rules, from deploy/auth/token.yml
#   AUTH_DIR/registry/token.crt           the same certificate, for the registry services (auth.token's
#                                         rootcertbundle): they never see the signing key
#   AUTH_DIR/gateway/tls.key, tls.crt     the gateway's TLS key (EC P-256) and self-signed certificate (825 days);
#                                         clients that verify TLS trust tls.crt (e.g. as
#                                         /etc/docker/certs.d/<host>:<port>/ca.crt)
#
# A file that exists is kept (run it again after an upgrade, or with new names after deleting gateway/tls.*):
# delete a file to make it anew. Each container reads its files as its own user: run as root, the keys and
# htpasswd are given to those users only (the registry image's 10001, the gateway's 65534; TOKEN_UID, GATEWAY_UID);
# run as another user, they stay that user's and must be readable by all (a warning says so).
#
# Environment: AUTH_DIR, TOKEN_UID (10001), GATEWAY_UID (65534), OPENSSL (openssl).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

DIR=${AUTH_DIR:-$here/secrets}
TOKEN_UID=${TOKEN_UID:-10001}
GATEWAY_UID=${GATEWAY_UID:-65534}
OPENSSL=${OPENSSL:-openssl}

log() { printf '== auth setup: %s\n' "$*" >&2; }
die() {
  printf 'auth setup: %s\n' "$*" >&2
  exit 1
}

command -v "$OPENSSL" >/dev/null || die "openssl is not installed"
umask 022
mkdir -p "$DIR/token" "$DIR/registry" "$DIR/gateway"

new_key() { # $1: path; an EC P-256 private key (PKCS#8 PEM), unless there is one
  [[ -f $1 ]] && return
  log "key $1"
  (umask 077 && "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.partial" 2>/dev/null)
  mv "$1.partial" "$1"
}

new_certificate() { # $1: path, $2: key, $3: subject, $4: days, $5...: extensions; self-signed, unless there is one
  local path=$1 key=$2 subject=$3 days=$4
  shift 4
  [[ -f $path ]] && return
  log "certificate $path ($subject)"
  local extensions=()
  for extension in "$@"; do
    extensions+=(-addext "$extension")
  done
  "$OPENSSL" req -x509 -new -key "$key" -sha256 -days "$days" -subj "$subject" "${extensions[@]}" \
    -out "$path.partial" 2>/dev/null
  mv "$path.partial" "$path"
}

# -- the token service: signing key and certificate, users, config ------------------------------------------------
new_key "$DIR/token/token.key"
new_certificate "$DIR/token/token.crt" "$DIR/token/token.key" "/CN=registry-token" 3650 \
  "keyUsage=critical,digitalSignature"
cp "$DIR/token/token.crt" "$DIR/registry/token.crt.partial"
mv "$DIR/registry/token.crt.partial" "$DIR/registry/token.crt"
if [[ ! -f $DIR/token/htpasswd ]]; then
  log "users $DIR/token/htpasswd (empty)"
  : >"$DIR/token/htpasswd"
fi
if [[ ! -f $DIR/token/token.yml ]]; then
  log "config $DIR/token/token.yml (from deploy/auth/token.yml: the access rules are there)"
  cp "$here/token.yml" "$DIR/token/token.yml"
fi

# -- the gateway: TLS ------------------------------------------------------------------------------------------------
san="IP:127.0.0.1,IP:::1,DNS:localhost"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
    san+=",IP:$name"
  elif [[ $name =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
    san+=",DNS:$name"
  else
    die "not a host name or address: $name"
  fi
done
new_key "$DIR/gateway/tls.key"
new_certificate "$DIR/gateway/tls.crt" "$DIR/gateway/tls.key" "/CN=${1:-localhost}" 825 \
  "subjectAltName=$san" "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth"
covered=$("$OPENSSL" x509 -in "$DIR/gateway/tls.crt" -noout -ext subjectAltName 2>/dev/null || true)
for name in "$@"; do # a certificate kept from an earlier run may lack names given now
  grep -q -F -- "$name" <<<"$covered" ||
    log "warning: $DIR/gateway/tls.crt (kept) does not name $name: delete gateway/tls.* and run this again"
done

# -- who reads what --------------------------------------------------------------------------------------------------
chmod 0755 "$DIR" "$DIR/token" "$DIR/registry" "$DIR/gateway"
chmod 0644 "$DIR/token/token.crt" "$DIR/token/token.yml" "$DIR/registry/token.crt" "$DIR/gateway/tls.crt"
if [[ $(id -u) == 0 ]]; then
  chown "$TOKEN_UID:$TOKEN_UID" "$DIR/token/token.key" "$DIR/token/htpasswd"
  chmod 0400 "$DIR/token/token.key"
  chmod 0640 "$DIR/token/htpasswd"
  chown "$GATEWAY_UID:$GATEWAY_UID" "$DIR/gateway/tls.key"
  chmod 0400 "$DIR/gateway/tls.key"
else
  chmod 0644 "$DIR/token/token.key" "$DIR/token/htpasswd" "$DIR/gateway/tls.key"
  log "warning: not root, so the keys and htpasswd in $DIR are readable by every user of this host (the" \
    "containers read them as uid $TOKEN_UID and $GATEWAY_UID): run this as root to restrict them"
fi
log "done: $DIR (users: deploy/auth/add-user.sh NAME)"
