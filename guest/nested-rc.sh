#!/bin/sh
# virtlab nested lab host (L1): busybox init's sysinit (/etc/virtlab/rc, copied in by /init).
#
# Mounts what systemd would, names and addresses the control NIC (the one with the MAC given as
# virtlab.ctlmac= on the kernel command line: QEMU's user network, restrict=on, only the forwarded
# SSH port reaches it), and loads the modules the labs use (there is no udev: nothing autoloads).
# Writes /run/virtlab-l1/ready when done; sshd is started by inittab after this returns.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
umask 022
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mkdir -p /run/sshd /run/virtlab-l1 /var/log /var/tmp
chmod 0755 /run/sshd
hostname -F /etc/hostname

ip link set lo up
ctlmac=
for word in $(cat /proc/cmdline); do
  case "$word" in virtlab.ctlmac=*) ctlmac=${word#virtlab.ctlmac=} ;; esac
done
modprobe virtio_net
ctl=
for dev in /sys/class/net/*; do
  [ "$(cat "$dev/address" 2>/dev/null)" = "$ctlmac" ] && ctl=${dev##*/}
done
if [ -n "$ctl" ]; then
  ip link set dev "$ctl" name ctl0
  ip addr add 10.0.2.15/24 dev ctl0
  ip link set ctl0 up
else
  echo "VIRTLAB-L1-FAIL: no control NIC with MAC $ctlmac"
fi

for m in $(cat /etc/virtlab/modules); do
  modprobe "$m" 2>/dev/null || echo "virtlab-l1: module $m not loaded" >> /run/virtlab-l1/modules.log
done
# The igb PF is up, as a host's uplink would be (its VFs pass no traffic while the PF is down).
for dev in /sys/class/net/*; do
  [ "$(basename "$(readlink "$dev/device/driver" 2>/dev/null)")" = igb ] && ip link set dev "${dev##*/}" up
done
echo ready > /run/virtlab-l1/ready
echo "VIRTLAB-L1-READY $(hostname)"
