#!/bin/busybox sh
# virtlab nested lab host (L1): /init of its initramfs (busybox sh, PID 1).
#
# Mounts the cached trixie root (9p tag "root") read-only under a tmpfs overlay, binds the L1
# kernel's modules and vmlinuz (9p tag "kernel") onto /usr/lib/modules/<ver> and /boot, copies
# this host's own files (9p tag "share": ssh host key, authorized_keys, hostname) into the
# overlay, then hands over to busybox init in the new root (/etc/inittab, /etc/virtlab/rc).
# The initramfs build writes /etc/virtlab/modules (load order) and /etc/virtlab/kernel (version).
# On any failure it prints "VIRTLAB-L1-FAIL: <what>" and powers off (virtlab shows the console).

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

fail() {
  echo "VIRTLAB-L1-FAIL: $*"
  sleep 1
  poweroff -f
}

for m in $(cat /etc/virtlab/modules); do
  insmod "/lib/modules/virtlab/$m.ko" || fail "insmod $m"
done

kver=$(cat /etc/virtlab/kernel)
opts=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /lower /kernel /share /rw /newroot
mount -t 9p -o "$opts,ro,cache=loose" root /lower || fail "mount the root (9p tag root)"
mount -t 9p -o "$opts,ro,cache=loose" kernel /kernel || fail "mount the kernel tree (9p tag kernel)"
mount -t 9p -o "$opts,ro" share /share || fail "mount the host share (9p tag share)"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount the overlay's tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount the overlay"

mkdir -p "/newroot/usr/lib/modules/$kver" /newroot/boot
mount -o bind "/kernel/usr/lib/modules/$kver" "/newroot/usr/lib/modules/$kver" || fail "bind the modules"
touch "/newroot/boot/vmlinuz-$kver"
mount -o bind "/kernel/boot/vmlinuz-$kver" "/newroot/boot/vmlinuz-$kver" || fail "bind vmlinuz"

mkdir -p /newroot/root/.ssh /newroot/etc/ssh/sshd_config.d /newroot/etc/virtlab
chmod 0700 /newroot/root/.ssh
cp /share/authorized_keys /newroot/root/.ssh/authorized_keys || fail "no authorized_keys in the host share"
chmod 0600 /newroot/root/.ssh/authorized_keys
cp /share/ssh_host_ed25519_key /share/ssh_host_ed25519_key.pub /newroot/etc/ssh/ || fail "no host key in the host share"
chmod 0600 /newroot/etc/ssh/ssh_host_ed25519_key
cp /share/hostname /newroot/etc/hostname
cp /etc/virtlab/sshd.conf /newroot/etc/ssh/sshd_config.d/virtlab.conf
cp /etc/virtlab/inittab /newroot/etc/inittab
cp /etc/virtlab/rc /newroot/etc/virtlab/rc
chmod 0755 /newroot/etc/virtlab/rc
cp /etc/virtlab/modules-l1 /newroot/etc/virtlab/modules
umount /share

mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/busybox init
fail "switch_root"
