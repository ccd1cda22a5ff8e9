#!/bin/sh
# run.sh - run the strictmx end-to-end tests (pytest) inside a private
# network, mount and PID namespace, from the source tree or a build tree.
#
# usage: tests/e2e/run.sh [pytest arguments...]
#   STRICTMXD    the daemon   (default ./smtpd/strictmxd, relative to the cwd,
#                so run it from the top of the build tree)
#   STRICTMXCTL  the admin tool (default ./smtpd/strictmxctl)
#   PYTHON       (default /usr/bin/python3: Debian's, with python3-pytest)
# Without a test path among the arguments the whole suite next to this
# script runs. The exit status is pytest's.
#
# The namespace: only a loopback interface (the tests bind 127.0.0.1:53 and
# 127.0.0.x:25), a private mount table (the disk-full test mounts a tiny
# tmpfs) and a PID namespace whose end kills anything a test leaked.
# Needs root, or unprivileged user namespaces (then unshare -r is used).
set -eu

here=$(cd "$(dirname "$0")" && pwd)

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}

STRICTMXD=$(abspath "${STRICTMXD:-./smtpd/strictmxd}")
STRICTMXCTL=$(abspath "${STRICTMXCTL:-./smtpd/strictmxctl}")
export STRICTMXD STRICTMXCTL

if [ "${STRICTMX_E2E_NS:-}" != 1 ]; then
	STRICTMX_E2E_NS=1
	STRICTMX_E2E_MOUNTNS=1
	export STRICTMX_E2E_NS STRICTMX_E2E_MOUNTNS
	if [ "$(id -u)" -eq 0 ]; then
		exec unshare -n -m -p -f --mount-proc -- sh "$here/run.sh" "$@"
	fi
	exec unshare -r -n -m -p -f --mount-proc -- sh "$here/run.sh" "$@"
fi

ip link set lo up

# Run the whole suite unless a test path (file, dir or node id) was given.
have_path=no
for a in "$@"; do
	case $a in
	-*) ;;
	*::*) have_path=yes ;;
	*) [ -e "$a" ] && have_path=yes ;;
	esac
done
if [ $have_path = no ]; then
	set -- "$here" "$@"
fi

# Never write into the source tree (make distcheck makes it read-only).
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

exec "${PYTHON:-/usr/bin/python3}" -m pytest -q -p no:cacheprovider \
	--rootdir="$here" "$@"
