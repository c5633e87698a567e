#!/usr/bin/env bash
# Every node: the mail daemons' configuration (the drill's user and domain,
# mail and queue on the DRBD volume) and ProxySQL's admin password file.
# The last node (PACEMAIL_APPLY) then waits for the whole cluster and the
# initial DRBD sync, and applies cib-templates/mail-vagrant.yaml, rewritten for
# this run (network prefix, fence agent and login, ProxySQL, DRBD 9).
set -euo pipefail
# shellcheck source=vagrant/provision/lib.sh
. "$(dirname "$0")/lib.sh"

me=$(hostname -s)
net="${PACEMAIL_NET:-198.18.1}"
src="${PACEMAIL_SRC:-/vagrant}"
read -r -a nodes <<< "${PACEMAIL_NODES:?}"

/opt/pacemail/venv/bin/python -m pacemail.vms.guest mail-config --network "$net.0/24"
if command -v proxysql >/dev/null; then
    [ -f /etc/pacemail/proxysql-admin ] || (umask 077 && echo admin > /etc/pacemail/proxysql-admin)
fi

[ "$me" = "${PACEMAIL_APPLY:?}" ] || exit 0

all_online() {
    local entry status
    status=$(crm_mon -1 2>/dev/null) || return 1
    for entry in "${nodes[@]}"; do
        grep -q "Online:.* ${entry%%=*}\b" <<< "$status" || return 1
    done
}
drbd_ready() {
    crm_attribute --type nodes --node "${PACEMAIL_INITIAL:?}" --name pacemail-drbd-ready \
        --query --quiet 2>/dev/null | grep -q 1
}
wait_until 900 "every node online" all_online
wait_until 900 "the initial DRBD sync started by $PACEMAIL_INITIAL" drbd_ready

description=/etc/pacemail/mail.yaml
sed -e "s/198\.18\.1\./${net}./g" \
    -e "s/agent: fence_virsh/agent: ${PACEMAIL_FENCE_AGENT:-fence_virsh}/" \
    -e "s/username: root/username: ${PACEMAIL_FENCE_LOGIN:-root}/" \
    "$src/cib-templates/mail-vagrant.yaml" > "$description.new"
if ! command -v proxysql >/dev/null; then
    sed -i '/# proxysql-begin/,/# proxysql-end/d' "$description.new"
fi
if [ "${PACEMAIL_DRBD:-8}" = 9 ]; then  # all three nodes hold data: the ban becomes a no-op
    sed -i '/resource: drbd-clone, node: node3/s/score: -INFINITY/score: 0/' "$description.new"
fi
mv "$description.new" "$description"
[ -f /etc/pacemail/fence_key ] ||
    say "WARNING: no fence key (PACEMAIL_FENCE_KEY): fencing, and so failover, cannot succeed"
pacemail apply --yes "$description"
