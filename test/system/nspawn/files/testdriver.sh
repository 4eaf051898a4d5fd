#!/bin/sh
# Runs once xen-guests.service is started (READY=1): shows what systemd knows about it, optionally
# restarts it the way an upgrade does, then powers the container off.
show() { systemctl show -p Type -p NotifyAccess -p ActiveState -p SubState -p Result -p StatusText -p KillMode -p TimeoutStopUSec xen-guests.service | tr '\n' '|'; }
echo "TESTDRIVER show: $(show)"
echo "TESTDRIVER state-dir: $(ls /var/lib/xen-guests | tr '\n' ' ')"
if [ -e /etc/xen-guests-test/restart-first ]; then
  systemctl restart xen-guests.service
  echo "TESTDRIVER after-restart: $(show)"
fi
systemctl poweroff --no-block
