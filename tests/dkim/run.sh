#!/bin/sh
# run.sh - DKIM interop for `make check`: a corpus signed by dkimpy and
# OpenDKIM (make_corpus.py, fresh keys each run) verified by dkimpy and by
# tests/dkim/dkim_verify against the same keys (run_interop.py), inside a
# private network namespace.
#
# usage: tests/dkim/run.sh [path/to/dkim_verify]
#   default: $DKIM_VERIFY, else ./tests/dkim/dkim_verify (run from the build
#   dir)
#   PYTHON      (default /usr/bin/python3: Debian's, with python3-dkim,
#               python3-nacl and python3-dnspython)
#   DKIM_DISAGREEMENTS  where run_interop.py writes the disagreements and
#               their analysis (default: only into the log)
#   DKIM_KEEP   a directory: keep the corpus there instead of a temp dir
# The namespace has only loopback: dnsserver.py (tests/spf) binds
# 127.0.0.1:53 there and nothing leaves the machine. Prints the table, the
# TAP lines and "N passed, M failed" last (tests/summary.py reads it).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
dkim_verify=${1:-${DKIM_VERIFY:-./tests/dkim/dkim_verify}}
case $dkim_verify in /*) ;; *) dkim_verify=$(pwd)/$dkim_verify ;; esac
if ! [ -x "$dkim_verify" ]; then
	echo "dkim/run.sh: $dkim_verify not built" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
# A missing signer or verifier is a failure, not a skip: the interop proof
# is a deliverable (tests/install-deps.sh installs them).
for tool in opendkim opendkim-genkey openssl; do
	if ! command -v "$tool" >/dev/null 2>&1 &&
	    ! [ -x "/usr/sbin/$tool" ]; then
		echo "dkim/run.sh: $tool missing (opendkim, opendkim-tools)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
if ! "$PYTHON" -c 'import dkim, nacl, dns.resolver' 2>/dev/null; then
	echo "dkim/run.sh: $PYTHON lacks python3-dkim, python3-nacl or" \
	    "python3-dnspython" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

if [ "${STRICTMX_DKIM_NS:-}" != 1 ]; then
	STRICTMX_DKIM_NS=1
	export STRICTMX_DKIM_NS
	userns=""
	[ "$(id -u)" = 0 ] || userns="-r"	# root only in a user namespace
	exec unshare $userns -n sh "$here/run.sh" "$dkim_verify"
fi

PATH=$PATH:/usr/sbin:/sbin
ip link set lo up
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strictmx-dkim.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
corpus=${DKIM_KEEP:-$tmp/corpus}

if ! "$PYTHON" "$here/make_corpus.py" "$corpus" >"$tmp/make" 2>&1; then
	cat "$tmp/make"
	echo "dkim/run.sh: make_corpus.py failed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
cat "$tmp/make"
set -- --dkim-verify "$dkim_verify" --corpus "$corpus" \
    --server 127.0.0.1:53 -t 2
[ -z "${DKIM_DISAGREEMENTS:-}" ] ||
	set -- "$@" --disagreements "$DKIM_DISAGREEMENTS"
rc=0
"$PYTHON" "$here/run_interop.py" "$@" >"$tmp/interop" 2>&1 || rc=1
cat "$tmp/interop"
# A script that printed no total (crashed) counts as one failure.
if ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' "$tmp/interop"; then
	echo "0 passed, 1 failed"
	rc=1
fi
exit "$rc"
