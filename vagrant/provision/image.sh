#!/usr/bin/env bash
# Guest settings of the locally built box only (run in the image's chroot by
# `pacemail vagrant box build`, after install.sh): root login with the box's
# key, systemd-networkd with DHCP on the management interface, no machine id
# (each VM makes its own at first boot: clones of one image would otherwise
# share a DHCP client id), a small initramfs, and no timers or services that
# only cost CPU under emulation.
# Usage: image.sh PUBLIC_KEY_FILE
set -euo pipefail
# shellcheck source=vagrant/provision/lib.sh
. "$(dirname "$0")/lib.sh"

key="${1:?usage: image.sh PUBLIC_KEY_FILE}"

install -d -m 700 /root/.ssh
install -m 600 "$key" /root/.ssh/authorized_keys
passwd -l root >/dev/null

cat > /etc/systemd/network/10-mgmt.network <<'NET'
[Match]
Name=eth0

[Network]
DHCP=ipv4

[DHCPv4]
ClientIdentifier=mac
NET
systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1

: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
echo pacemail > /etc/hostname
echo "/dev/vda / ext4 defaults,noatime 0 1" > /etc/fstab

sed -i 's/^MODULES=.*/MODULES=list/' /etc/initramfs-tools/initramfs.conf
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 crc32c_generic > /etc/initramfs-tools/modules
update-initramfs -u -k all >/dev/null

# The cluster starts these itself (cluster.sh, then Pacemaker).
for unit in postfix.service dovecot.service mariadb.service corosync.service pacemaker.service \
    apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer; do
    systemctl disable "$unit" >/dev/null 2>&1 || true
done
systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer >/dev/null 2>&1

apt-get clean
rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/pacemail-updated
