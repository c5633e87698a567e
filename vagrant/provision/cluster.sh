#!/usr/bin/env bash
# Make this VM a cluster node: /etc/hosts, corosync.conf and its authkey, the
# fence key, DRBD's configuration (fencing resource-and-stonith with pacemail's
# handlers, short net timeouts) and metadata on storage nodes; then corosync
# and Pacemaker. The last storage node makes the initial sync and the file
# system, and marks itself with the node attribute pacemail-drbd-ready.
# Settings (environment, from the Vagrantfile): PACEMAIL_NODES "name=addr ...",
# PACEMAIL_STORAGE, PACEMAIL_INITIAL, PACEMAIL_DRBD, PACEMAIL_AUTHKEY (base64),
# PACEMAIL_DISK.
set -euo pipefail
# shellcheck source=vagrant/provision/lib.sh
. "$(dirname "$0")/lib.sh"

me=$(hostname -s)
read -r -a nodes <<< "${PACEMAIL_NODES:?}"
read -r -a storage <<< "${PACEMAIL_STORAGE:?}"
drbd="${PACEMAIL_DRBD:-8}"
disk="${PACEMAIL_DISK:-/dev/vdb}"

addr_of() {
    local entry
    for entry in "${nodes[@]}"; do
        [ "${entry%%=*}" = "$1" ] && { echo "${entry#*=}"; return; }
    done
    die "no address for $1 in PACEMAIL_NODES"
}

is_storage() {
    local n
    for n in "${storage[@]}"; do [ "$n" = "$1" ] && return 0; done
    return 1
}

# Names resolve without DNS, and not to 127.0.1.1 (corosync binds by name).
sed -i '/^127\.0\.1\.1/d' /etc/hosts
for entry in "${nodes[@]}"; do
    grep -q "^${entry#*=} " /etc/hosts || echo "${entry#*=} ${entry%%=*}" >> /etc/hosts
done

install -d -m 755 /etc/pacemail
if [ -f /tmp/pacemail-fence-key ]; then
    install -m 600 /tmp/pacemail-fence-key /etc/pacemail/fence_key
    rm -f /tmp/pacemail-fence-key
fi

{
    printf 'totem {\n    version: 2\n    cluster_name: mail\n    transport: knet\n'
    printf '    crypto_cipher: aes256\n    crypto_hash: sha256\n    token: 3000\n}\n'
    printf 'nodelist {\n'
    i=1
    for entry in "${nodes[@]}"; do
        printf '    node {\n        ring0_addr: %s\n        name: %s\n        nodeid: %s\n    }\n' \
            "${entry#*=}" "${entry%%=*}" "$i"
        i=$((i + 1))
    done
    printf '}\nquorum {\n    provider: corosync_votequorum\n}\n'
    printf 'logging {\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n    to_syslog: yes\n}\n'
} > /etc/corosync/corosync.conf.new
mv /etc/corosync/corosync.conf.new /etc/corosync/corosync.conf
echo "${PACEMAIL_AUTHKEY:?}" | base64 -d > /etc/corosync/authkey
chmod 400 /etc/corosync/authkey

mkdir -p /var/lock /run/lock /var/run/drbd
if is_storage "$me"; then
    # drbd-utils 9 picks its 8.4 or 9 tools by the loaded module's version: load it
    # first (and at every boot, for the agent's first start after a fencing).
    if [ "$drbd" = 8 ]; then
        modprobe drbd
        echo drbd > /etc/modules-load.d/drbd.conf
    fi
    if [ "$drbd" = 9 ]; then
        {
            printf 'resource mail {\n    device minor 0;\n    disk %s;\n    meta-disk internal;\n' "$disk"
            printf '    disk {\n        c-plan-ahead 0;\n        resync-rate 40M;\n    }\n'
            printf '    net {\n        protocol C;\n        fencing resource-and-stonith;\n'
            printf '        ping-int 2;\n        ping-timeout 10;\n        timeout 10;\n    }\n'
            printf '    handlers {\n        fence-peer "/usr/bin/pacemail fencing fence-peer --stonith";\n'
            printf '        unfence-peer "/usr/bin/pacemail fencing unfence-peer";\n    }\n'
            id=0
            for n in "${storage[@]}"; do
                printf '    on %s {\n        node-id %s;\n        address %s:7789;\n    }\n' \
                    "$n" "$id" "$(addr_of "$n")"
                id=$((id + 1))
            done
            printf '    connection-mesh {\n        hosts %s;\n    }\n}\n' "${storage[*]}"
        } > /etc/drbd.d/mail.res
    else
        {
            printf 'resource mail {\n    device /dev/drbd0;\n    disk %s;\n    meta-disk internal;\n' "$disk"
            # A fixed resync rate: DRBD's dynamic controller (c-plan-ahead) asked for 400-480 KiB/s
            # under TCG, and the resync after a Primary's crash (its activity log, ~100 MB) took
            # minutes; 40M: ~35 MB in 10 s here.
            printf '    disk {\n        fencing resource-and-stonith;\n        c-plan-ahead 0;\n'
            printf '        resync-rate 40M;\n    }\n'
            printf '    net {\n        protocol C;\n        ping-int 2;\n        ping-timeout 10;\n'
            printf '        timeout 10;\n    }\n'
            printf '    handlers {\n        fence-peer "/usr/bin/pacemail fencing fence-peer --stonith";\n'
            printf '        after-resync-target "/usr/bin/pacemail fencing unfence-peer";\n    }\n'
            for n in "${storage[@]}"; do
                printf '    on %s {\n        address %s:7789;\n    }\n' "$n" "$(addr_of "$n")"
            done
            printf '}\n'
        } > /etc/drbd.d/mail.res
    fi
    drbdadm dump mail >/dev/null
    [ -b "$disk" ] || die "DRBD disk $disk missing"
    if ! drbdadm dump-md mail >/dev/null 2>&1; then
        drbdadm create-md --force mail
    fi
    drbdadm adjust mail 2>/dev/null || drbdadm up mail
fi

systemctl enable corosync.service pacemaker.service >/dev/null 2>&1
systemctl start corosync.service
systemctl start pacemaker.service
online() { crm_mon -1 2>/dev/null | grep -q "Online:.* $me\b"; }
wait_until 300 "$me online in Pacemaker" online

if [ "$me" = "${PACEMAIL_INITIAL:?}" ] && ! crm_attribute --type nodes --node "$me" \
        --name pacemail-drbd-ready --query --quiet 2>/dev/null | grep -q 1; then
    say "initial DRBD sync from $me and the file system"
    connected() { [ -n "$(drbdadm cstate mail)" ] && ! drbdadm cstate mail | grep -qv '^Connected$'; }
    wait_until 600 "every DRBD peer of $me connected" connected
    if [ "$drbd" = 9 ]; then
        drbdadm primary --force mail
    else
        drbdadm -- --overwrite-data-of-peer primary mail
    fi
    mkfs.ext4 -q -F -E nodiscard /dev/drbd0
    mount /dev/drbd0 /mnt
    install -d -o 5000 -g 5000 /mnt/drill
    install -d /mnt/postfix-queue
    umount /mnt
    drbdadm secondary mail
    crm_attribute --type nodes --node "$me" --name pacemail-drbd-ready --update 1
fi
