# shellcheck shell=bash
# Helpers shared by the provisioning scripts (sourced, not run).

say() { printf 'pacemail-provision: %s\n' "$*" >&2; }

die() { say "ERROR: $*"; exit 1; }

# apt_install PKG...: install the packages not installed yet, quietly.
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing ${missing[*]}"
    if [ ! -f /var/lib/apt/periodic/pacemail-updated ]; then
        timeout 600 apt-get update -q
        mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/pacemail-updated
    fi
    DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -q \
        -o Dpkg::Options::=--force-confold --no-install-recommends "${missing[@]}"
}

# reachable URL: true when URL answers within 10 s (guards optional repositories).
reachable() {
    command -v curl >/dev/null || apt_install curl ca-certificates
    curl -fsS --max-time 10 -o /dev/null "$1" 2>/dev/null
}

# wait_until SECONDS WHAT CMD...: run CMD every 3 s until it succeeds, or fail.
wait_until() {
    local limit="$1" what="$2" start
    shift 2
    start=$(date +%s)
    until "$@" >/dev/null 2>&1; do
        [ $(( $(date +%s) - start )) -ge "$limit" ] && die "timed out after ${limit}s: $what"
        sleep 3
    done
}
