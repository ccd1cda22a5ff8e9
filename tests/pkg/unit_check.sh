#!/bin/sh
# unit_check.sh - check conf/strictmxd.service as far as a machine without
# systemd as PID 1 allows: systemd-analyze verify and security, and a run
# of the built daemon under the unit's privileges (unit_sandbox.py).
#
# usage: tests/pkg/unit_check.sh [UNIT]         (exit 77 = skipped)
#   UNIT          default $TOP_SRCDIR/conf/strictmxd.service
#   STRICTMXD     the daemon (default ./smtpd/strictmxd, from the build tree)
#   TOP_SRCDIR    the source tree (default: two levels above this script)
#   SECURITY_MAX  highest `systemd-analyze security` exposure (default 2.0)
#
# 1. The directives the design asks for are there, and none it forbids
#    (PrivateUsers= would take CAP_NET_BIND_SERVICE away from port 25;
#    an MX cannot use PrivateNetwork= or IPAddressDeny=).
# 2. systemd-analyze verify prints nothing: the unit parses, every
#    command exists (the built daemon stands in for /usr/sbin/strictmxd)
#    and every Documentation= man page is found (the source's man/).
# 3. systemd-analyze security --offline: exposure <= SECURITY_MAX.
# 4. As root, in a private network namespace: unit_sandbox.py, under the
#    unit's seccomp filter when /usr/bin/python3 has python3-seccomp.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
STRICTMXD=${STRICTMXD:-./smtpd/strictmxd}
case $STRICTMXD in /*) ;; *) STRICTMXD=$(pwd)/$STRICTMXD ;; esac
UNIT=${1:-$TOP_SRCDIR/conf/strictmxd.service}
SECURITY_MAX=${SECURITY_MAX:-2.0}

fail() { echo "unit_check: FAIL: $*"; exit 1; }
[ -f "$UNIT" ] || fail "$UNIT: no such file"
[ -x "$STRICTMXD" ] || fail "$STRICTMXD: not built"
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "unit_check: SKIP: systemd-analyze not installed (apt-get install systemd)"
	exit 77
fi

tmp=$(mktemp -d /tmp/strictmx-unit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# 1. Directives.
for want in 'Type=notify' 'NotifyAccess=main' 'User=strictmx' \
    'ExecStart=/usr/sbin/strictmxd -d -f /etc/strictmx/strictmx.conf' \
    'ExecStartPre=/usr/sbin/strictmxd -n -f /etc/strictmx/strictmx.conf' \
    'ExecReload=/bin/kill -HUP $MAINPID' \
    'AmbientCapabilities=CAP_NET_BIND_SERVICE' \
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' 'NoNewPrivileges=yes' \
    'ProtectSystem=strict' 'ReadWritePaths=/var/mail/strictmx' \
    'StateDirectory=strictmx' 'ProtectHome=yes' 'PrivateTmp=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    'SystemCallFilter=@system-service' 'MemoryDenyWriteExecute=yes' \
    'UMask=0077'; do
	grep -qxF "$want" "$UNIT" || fail "missing: $want"
done
for bad in PrivateUsers PrivateNetwork IPAddressDeny DynamicUser; do
	if grep -q "^$bad=" "$UNIT"; then
		fail "$bad= must not be set (see the comments in $UNIT)"
	fi
done
echo "unit_check: ok: directives"

# 2. verify, on a copy whose commands are the built daemon's.
sed "s|/usr/sbin/strictmxd|$STRICTMXD|g" "$UNIT" >"$tmp/strictmxd.service"
mkdir -p "$tmp/man/man5" "$tmp/man/man8"
cp "$TOP_SRCDIR"/man/*.5 "$tmp/man/man5/"
cp "$TOP_SRCDIR"/man/*.8 "$tmp/man/man8/"
if ! MANPATH=$tmp/man systemd-analyze verify "$tmp/strictmxd.service" \
    >"$tmp/verify.out" 2>&1 || [ -s "$tmp/verify.out" ]; then
	cat "$tmp/verify.out"
	fail "systemd-analyze verify"
fi
echo "unit_check: ok: systemd-analyze verify (systemd $(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'))"

# 3. security.
if systemd-analyze security --offline=true "$tmp/strictmxd.service" \
    >"$tmp/security.out" 2>&1; then
	level=$(sed -n 's/.*Overall exposure level for strictmxd.service: \([0-9.]*\).*/\1/p' \
	    "$tmp/security.out")
	[ -n "$level" ] || { cat "$tmp/security.out"; fail "no exposure level"; }
	if awk -v l="$level" -v m="$SECURITY_MAX" 'BEGIN { exit !(l > m) }'; then
		grep '✗' "$tmp/security.out" || true
		fail "exposure $level > $SECURITY_MAX"
	fi
	echo "unit_check: ok: systemd-analyze security exposure $level" \
	    "(<= $SECURITY_MAX); what is left open:"
	sed -n 's/^✗ \([^ ]*\) .* \([0-9.]*\)$/unit_check:   \1 \2/p' \
	    "$tmp/security.out"
else
	echo "unit_check: systemd-analyze security --offline unsupported" \
	    "here (needs systemd >= 250): exposure not measured"
fi

# 4. The unit's privilege model, for real.
if [ "$(id -u)" -ne 0 ]; then
	echo "unit_check: SKIP the sandbox run: needs root"
	exit 0
fi
chmod 755 "$tmp"
mkdir "$tmp/work" "$tmp/bin"
# The sandboxed daemon runs as nobody, who may not reach the build tree
# (a checkout under /root, a 0700 temp dir): it gets copies it can read.
cp "$STRICTMXD" "$here/unit_sandbox.py" "$here/seccomp_exec.py" "$tmp/bin/"
cp "$UNIT" "$tmp/bin/strictmxd.service"
chmod 755 "$tmp/bin" "$tmp/bin"/*
set -- "$tmp/bin/strictmxd.service"
if ! /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
	echo "unit_check: no python3-seccomp: the sandbox run is without the" \
	    "unit's system call filter (apt-get install python3-seccomp)"
	set --
fi
if ! unshare -n -- sh -c 'ip link set lo up && exec /usr/bin/python3 "$@"' sh \
    "$tmp/bin/unit_sandbox.py" "$tmp/bin/strictmxd" "$tmp/work" nobody "$@"; then
	cat "$tmp/work/strictmxd.log" 2>/dev/null || true
	fail "sandbox run"
fi
echo "unit_check: PASS"
