#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) for pacemail: the cluster stack and
# mail daemons from Debian, a virtual environment in .venv with pacemail
# installed (editable) and its agents installed where Pacemaker finds them.
# Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
    echo "bootstrap.sh: run as root (it installs Debian packages)" >&2
    exit 1
fi

PACKAGES=(
    pacemaker pacemaker-cli-utils corosync pcs crmsh resource-agents
    fence-agents drbd-utils postfix dovecot-imapd dovecot-lmtpd
    mariadb-server iproute2 nftables e2fsprogs util-linux procps psmisc kmod
    corosync-qdevice corosync-qnetd sbd
    python3 python3-venv python3-dev gcc
)
# Vagrant drills (vagrant/, tests/test_vagrant_*.py): vagrant with libvirt,
# qemu (TCG), the box build, the provisioning scripts' linter and the sshd
# the VMs' fence_virsh logs in to.
VM_PACKAGES=(
    vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils
    debootstrap shellcheck rsync dnsmasq-base openssh-server
)

# Install whichever of the named packages are missing, with daemon starts
# refused (policy-rc.d): the lab runs its own corosync, pacemaker, qnetd,
# mail daemons and MariaDB inside namespaces, the VM side its libvirtd and
# sshd in pacemail's own namespace (`pacemail vagrant net up`); none of them
# is wanted in the root namespace.
install_missing() {
    local missing=() p ours=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "bootstrap.sh: installing ${missing[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        ours=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    if [ -n "$ours" ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
}

# postfix asks two questions; answer them so the install is silent.
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string lab.pacemail.test" | debconf-set-selections
install_missing "${PACKAGES[@]}"
install_missing "${VM_PACKAGES[@]}"
# Enabled by their packages, these would start at the next boot: qnetd
# listening in the root namespace, and sbd, which corosync.service requires,
# failing there without a watchdog and taking corosync with it.
if command -v systemctl >/dev/null; then
    systemctl disable corosync-qnetd.service sbd.service >/dev/null 2>&1 || true
fi

# Debian's own interpreter, not one under /root: Pacemaker runs agents'
# meta-data as the hacluster user, who must be able to execute it and read
# the package (so keep the checkout somewhere hacluster can read, too).
if [ ! -x .venv/bin/python ] || [ "$(readlink -f .venv/bin/python)" != "$(readlink -f /usr/bin/python3)" ]; then
    rm -rf .venv
    /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/pacemail agents install
