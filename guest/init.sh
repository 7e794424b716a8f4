#!/bin/busybox sh
# virtlab built-in guest: /init of the initramfs (busybox sh, PID 1).
#
# Kernel command line parameters read here:
#   virtlab.vm=<name>                         the VM's name (hostname, ready marker)
#   virtlab.net=<mac>,<cidr>;<mac>,<cidr>     addresses for the NICs with these MACs
#
# Prints "VIRTLAB-READY <name>" on the console when the network is configured and the guest
# agent (qemu-ga on virtio-serial port org.qemu.guest_agent.0) is running. Then stays up.
# The image build writes /etc/virtlab/modules (kernel modules in load order, one per line).

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mkdir -p /dev/pts /dev/shm /dev/virtio-ports
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/virtlab /var/log /var/lib
[ -e /dev/console ] && exec </dev/console >/dev/console 2>&1

log() { echo "virtlab-init: $*"; }

vm=guest
net=
for word in $(cat /proc/cmdline); do
  case "$word" in
    virtlab.vm=*) vm="${word#virtlab.vm=}" ;;
    virtlab.net=*) net="${word#virtlab.net=}" ;;
  esac
done
hostname "$vm"

# Kernel modules, in the order the image build wrote them (dependencies first).
modules_start=$(cut -d" " -f1 /proc/uptime)
if [ -f /etc/virtlab/modules ]; then
  while read -r module; do
    [ -n "$module" ] || continue
    insmod "/lib/modules/virtlab/$module.ko" || log "insmod $module failed"
  done </etc/virtlab/modules
fi

modules_done=$(cut -d" " -f1 /proc/uptime)

ip link set lo up
ip addr add 127.0.0.1/8 dev lo 2>/dev/null || true

# Find the interface with a MAC address (waits up to ~3 s for the driver to create it).
iface_with_mac() {
  want="$1"
  tries=0
  while [ "$tries" -lt 30 ]; do
    for dev in /sys/class/net/*; do
      [ -f "$dev/address" ] || continue
      if [ "$(cat "$dev/address")" = "$want" ]; then
        echo "${dev##*/}"
        return 0
      fi
    done
    tries=$((tries + 1))
    sleep 0.1
  done
  return 1
}

if [ -n "$net" ]; then
  for spec in $(echo "$net" | tr ';' ' '); do
    mac=$(echo "${spec%%,*}" | tr 'A-F' 'a-f')
    cidr="${spec#*,}"
    if ifname=$(iface_with_mac "$mac"); then
      ip link set "$ifname" up
      if [ -n "$cidr" ] && [ "$cidr" != "$spec" ]; then
        ip addr add "$cidr" dev "$ifname" || log "ip addr add $cidr dev $ifname failed"
      fi
    else
      log "no interface with MAC $mac"
      echo "VIRTLAB-NET-MISSING $mac"
    fi
  done
fi

# The guest agent's port: no udev here, so make /dev/virtio-ports/<name> from sysfs.
agent_port=/dev/virtio-ports/org.qemu.guest_agent.0
tries=0
while [ ! -e "$agent_port" ] && [ "$tries" -lt 30 ]; do
  for port in /sys/class/virtio-ports/vport*; do
    [ -f "$port/name" ] || continue
    name=$(cat "$port/name")
    [ -n "$name" ] || continue
    node="/dev/${port##*/}"
    if [ ! -e "$node" ]; then
      dev=$(cat "$port/dev")
      mknod "$node" c "${dev%%:*}" "${dev##*:}"
    fi
    ln -sf "../${port##*/}" "/dev/virtio-ports/$name"
  done
  [ -e "$agent_port" ] && break
  tries=$((tries + 1))
  sleep 0.1
done

if [ -e "$agent_port" ] && [ -x /usr/sbin/qemu-ga ]; then
  /usr/sbin/qemu-ga --method=virtio-serial --path="$agent_port" \
    --logfile=/var/log/qemu-ga.log --statedir=/run/virtlab &
  agent_pid=$!
  # Ready means the agent holds its port open (it answers from then on).
  port_dev=$(readlink -f "$agent_port")
  tries=0
  while [ "$tries" -lt 50 ]; do
    for fd in /proc/$agent_pid/fd/*; do
      [ "$(readlink "$fd")" = "$port_dev" ] && break 2
    done
    kill -0 "$agent_pid" 2>/dev/null || { log "qemu-ga exited"; break; }
    tries=$((tries + 1))
    sleep 0.1
  done
else
  log "no guest agent port ($agent_port): guest agent not started"
fi

log "ready at uptime $(cut -d" " -f1 /proc/uptime) s (modules $modules_start-$modules_done s)"
echo "VIRTLAB-READY $vm"

# PID 1 must not exit; sh reaps orphaned children while it waits.
while :; do
  sleep 3600
done
