#!/usr/bin/env bash
# Install what a pacemail node runs: the cluster stack, DRBD's userland, the
# mail daemons, MariaDB, ProxySQL where its repository answers, and pacemail
# itself (a venv in /opt/pacemail from the checked-out tree).
# Shared by `vagrant up` (the public box) and `pacemail vagrant box build`
# (run in the image's chroot with PACEMAIL_IMAGE_BUILD=1: nothing started).
# Idempotent: on the locally built box every package is there already.
#
# Settings (environment):
#   PACEMAIL_SRC       the pacemail tree (default /vagrant, the synced folder)
#   PACEMAIL_DRBD      8 (Debian's kernel module, two-node resources; default)
#                      or 9 (LINBIT's packages, DRBD 9 with dkms)
#   PACEMAIL_PROXYSQL  auto (from ProxySQL's repository when it answers; default) or no
#   PACEMAIL_DEPS      pacemail's Python dependencies, one string (default: read
#                      from $PACEMAIL_SRC/pyproject.toml)
set -euo pipefail
# shellcheck source=vagrant/provision/lib.sh
. "$(dirname "$0")/lib.sh"

SRC="${PACEMAIL_SRC:-/vagrant}"
DRBD="${PACEMAIL_DRBD:-8}"
PROXYSQL="${PACEMAIL_PROXYSQL:-auto}"
VENV=/opt/pacemail/venv
PROXYSQL_REPO="${PACEMAIL_PROXYSQL_REPO:-https://repo.proxysql.com/ProxySQL/proxysql-2.7.x}"
LINBIT_REPO="${PACEMAIL_LINBIT_REPO:-https://packages.linbit.com/public}"

CLUSTER_PACKAGES=(
    pacemaker pacemaker-cli-utils corosync crmsh resource-agents fence-agents
    drbd-utils postfix dovecot-imapd dovecot-lmtpd mariadb-server
    python3 python3-venv rsync curl ca-certificates gnupg openssh-client
)

# postfix asks two questions; answer them so the install is silent.
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string mail.lab.test" | debconf-set-selections
apt_install "${CLUSTER_PACKAGES[@]}"

if [ "$DRBD" = 9 ]; then
    if ! dpkg-query -W -f='${Status}' drbd-dkms 2>/dev/null | grep -q "ok installed"; then
        reachable "$LINBIT_REPO/" || die "PACEMAIL_DRBD=9 but LINBIT's repository $LINBIT_REPO does not answer"
        curl -fsS --max-time 60 "$LINBIT_REPO/linbit-keyring.deb" -o /tmp/linbit-keyring.deb
        dpkg -i /tmp/linbit-keyring.deb
        echo "deb $LINBIT_REPO bookworm drbd-9" > /etc/apt/sources.list.d/linbit.list
        rm -f /var/lib/apt/periodic/pacemail-updated
        apt_install "linux-headers-$(uname -r)" drbd-dkms drbd-utils
    fi
elif [ "$DRBD" != 8 ]; then
    die "PACEMAIL_DRBD must be 8 or 9, not $DRBD"
fi

if [ "$PROXYSQL" = auto ] && ! command -v proxysql >/dev/null; then
    if reachable "$PROXYSQL_REPO/repo_pub_key.gpg"; then
        curl -fsS --max-time 60 "$PROXYSQL_REPO/repo_pub_key.gpg" \
            -o /etc/apt/trusted.gpg.d/proxysql-keyring.gpg
        echo "deb $PROXYSQL_REPO/bookworm/ ./" > /etc/apt/sources.list.d/proxysql.list
        rm -f /var/lib/apt/periodic/pacemail-updated
        apt_install proxysql
        # The cluster runs ProxySQL (ocf:pacemail:proxysql), not the package's service.
        if [ -z "${PACEMAIL_IMAGE_BUILD:-}" ]; then
            systemctl disable --now proxysql.service 2>/dev/null || true
        fi
    else
        say "ProxySQL's repository $PROXYSQL_REPO does not answer: skipping ProxySQL"
    fi
fi

# The cluster starts the mail daemons, not their services.
if [ -z "${PACEMAIL_IMAGE_BUILD:-}" ]; then
    systemctl disable --now postfix.service dovecot.service 2>/dev/null || true
fi

deps="${PACEMAIL_DEPS:-}"
if [ -z "$deps" ] && [ -f "$SRC/pyproject.toml" ]; then
    deps=$(python3 -c 'import sys, tomllib
print(" ".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' "$SRC/pyproject.toml")
fi
[ -n "$deps" ] || die "no pacemail tree at $SRC (PACEMAIL_SRC) and no PACEMAIL_DEPS"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# Dependencies and build backend once (network); pacemail itself offline.
# shellcheck disable=SC2086  # $deps is a list of requirement words
if ! "$VENV/bin/python" -m pip show -q $deps >/dev/null 2>&1 ||
    ! "$VENV/bin/python" -c 'import setuptools, sys
sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --upgrade pip 'setuptools>=77' wheel $deps
fi

if [ -z "${PACEMAIL_IMAGE_BUILD:-}" ]; then
    [ -f "$SRC/pyproject.toml" ] || die "no pacemail tree at $SRC (PACEMAIL_SRC)"
    build=$(mktemp -d)
    rsync -a --exclude .git --exclude .venv --exclude build --exclude '*.egg-info' \
        --exclude reports --exclude .vagrant "$SRC/" "$build/"
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation --no-index "$build"
    rm -rf "$build"
    ln -sf "$VENV/bin/pacemail" /usr/bin/pacemail
    pacemail agents install >/dev/null
fi
