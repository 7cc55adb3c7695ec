#!/usr/bin/env bash
# Installs the Debian packages of the real servers that packages/starttls/test/interop.test.ts talks to (postfix,
# dovecot, vsftpd, prosody, postgresql 15, mariadb, slapd, inn2, inspircd), as root and only what is missing, without
# letting apt start any daemon (the tests start their own, on 127.0.0.1, from temp dirs).
#
# Idempotent: when everything is installed it only runs dpkg-query and exits. It never fails the build: a package that
# cannot be installed is named on stdout and its tests skip, naming it. Usage: bash .ci/interop-servers.sh
set -uo pipefail

# package → the file its tests need (the tests check the same paths).
PACKAGES=(
  postfix:/usr/sbin/postfix
  dovecot-imapd:/usr/lib/dovecot/imap
  dovecot-pop3d:/usr/lib/dovecot/pop3
  dovecot-lmtpd:/usr/lib/dovecot/lmtp
  dovecot-managesieved:/usr/lib/dovecot/managesieve
  vsftpd:/usr/sbin/vsftpd
  prosody:/usr/bin/prosody
  postgresql-15:/usr/lib/postgresql/15/bin/postgres
  mariadb-server:/usr/sbin/mariadbd
  slapd:/usr/sbin/slapd
  inn2:/usr/lib/news/bin/nnrpd
  inspircd:/usr/sbin/inspircd
)

log() { printf 'interop-servers: %s\n' "$*"; }

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for entry in "${PACKAGES[@]}"; do
  pkg="${entry%%:*}" file="${entry#*:}"
  if ! installed "$pkg" || [ ! -e "$file" ]; then missing+=("$pkg"); fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  log "all ${#PACKAGES[@]} server packages installed"
  exit 0
fi
log "missing: ${missing[*]}"

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "not root or no apt-get: cannot install; the tests of ${missing[*]} will skip"
  exit 0
fi

started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true

# No daemon may start from a maintainer script (there is no systemd here, and the tests own their daemons).
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && created_policy=1
fi
restore_policy() { if [ -n "$created_policy" ]; then rm -f "$policy"; fi; }
trap restore_policy EXIT

# Preseed: postfix writes no main.cf; slapd creates no database; both stay quiet.
debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
slapd slapd/no_configuration boolean true
slapd shared/organization string test
slapd slapd/domain string test.local
EOF

# inn2's postinst fails twice here: innconfval needs a domain (a container's hostname has none), and it runs newaliases,
# which fails with postfix left unconfigured ("open /etc/postfix/main.cf"). So: add its usenet alias ourselves (then it
# skips newaliases), let the first configure fail, set `domain:` in the unpacked /etc/news/inn.conf, configure again.
add_usenet_alias() {
  if [ -f /etc/aliases ] && ! grep -q '^usenet:' /etc/aliases; then echo "usenet: root" >>/etc/aliases; fi
}
fix_inn_conf() {
  local conf=/etc/news/inn.conf
  [ -f "$conf" ] || return 0
  if grep -Eq '^[#[:space:]]*domain:' "$conf"; then
    sed -i -E 's/^[#[:space:]]*domain:.*/domain:                test.local/' "$conf"
  else
    printf 'domain:                test.local\n' >>"$conf"
  fi
}

APT_OPTS=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
APT_LOG=/tmp/interop-servers-apt.log
: >"$APT_LOG"

# A previous run may have left packages unconfigured (inn2): finish them first.
fix_inn_conf
dpkg --configure -a >/dev/null 2>&1 || true

log "apt-get update"
apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed; trying with the lists there are"

# Only packages that apt knows about; the others are reported missing.
candidates=()
for pkg in "${missing[@]}"; do
  if apt-cache show "$pkg" >/dev/null 2>&1; then candidates+=("$pkg"); else log "no candidate for $pkg"; fi
done

# inn2 last and on its own, so that its postinst cannot hold the others back.
others=() want_inn=
for pkg in "${candidates[@]}"; do
  if [ "$pkg" = inn2 ]; then want_inn=1; else others+=("$pkg"); fi
done

if [ "${#others[@]}" -gt 0 ]; then
  log "installing ${others[*]}"
  if ! apt-get install "${APT_OPTS[@]}" "${others[@]}" >>"$APT_LOG" 2>&1; then
    log "one transaction failed (tail of $APT_LOG below); retrying one by one"
    tail -n 15 "$APT_LOG" | sed 's/^/  /'
    dpkg --configure -a >/dev/null 2>&1 || true
    for pkg in "${others[@]}"; do
      installed "$pkg" && continue
      apt-get install "${APT_OPTS[@]}" "$pkg" >>"$APT_LOG" 2>&1 || log "apt-get install $pkg failed"
    done
  fi
fi

if [ -n "$want_inn" ]; then
  log "installing inn2"
  add_usenet_alias
  apt-get install "${APT_OPTS[@]}" inn2 >>"$APT_LOG" 2>&1
  if ! installed inn2; then
    # Unpacked but its postinst failed: set domain: and configure again.
    fix_inn_conf
    if ! dpkg --configure inn2 >>"$APT_LOG" 2>&1; then
      log "dpkg --configure inn2 failed (tail of $APT_LOG below)"
      tail -n 15 "$APT_LOG" | sed 's/^/  /'
    fi
  fi
fi

# What is still missing: its tests will skip.
still=()
for entry in "${PACKAGES[@]}"; do
  pkg="${entry%%:*}" file="${entry#*:}"
  if ! installed "$pkg" || [ ! -e "$file" ]; then still+=("$pkg"); fi
done
log "done in $(($(date +%s) - started)) s"
if [ "${#still[@]}" -gt 0 ]; then
  log "NOT installed (their interop tests will skip): ${still[*]}"
else
  log "all ${#PACKAGES[@]} server packages installed"
fi
exit 0
