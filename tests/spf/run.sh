#!/bin/sh
# run.sh - SPF conformance for `make check`: the OpenSPF RFC 7208 suite
# (run_suite.py) and the differential test against pyspf (pyspf_diff.py),
# both on tests/spf/spf_eval, inside a private network namespace.
#
# usage: tests/spf/run.sh [path/to/spf_eval]
#   default: $SPF_EVAL, else ./tests/spf/spf_eval (run from the build dir)
#   TOP_SRCDIR  the source tree; the suite is read in place from
#               $TOP_SRCDIR/../shared/testdata/spf/rfc7208-tests.yml
#   PYTHON      (default /usr/bin/python3: Debian's, with python3-spf and
#               python3-yaml)
# The namespace has only loopback: dnsserver.py binds 127.0.0.1:53 there and
# nothing leaves the machine. Prints both scripts' TAP lines, then one total
# "N passed, M failed" line (tests/summary.py reads the last one).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
spf_eval=${1:-${SPF_EVAL:-./tests/spf/spf_eval}}
case $spf_eval in /*) ;; *) spf_eval=$(pwd)/$spf_eval ;; esac
if ! [ -x "$spf_eval" ]; then
	echo "spf/run.sh: $spf_eval not built" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if ! "$PYTHON" -c 'import spf, yaml' 2>/dev/null; then
	echo "spf/run.sh: $PYTHON lacks python3-spf or python3-yaml" >&2
	exit 77
fi

if [ "${STRICTMX_SPF_NS:-}" != 1 ]; then
	STRICTMX_SPF_NS=1
	export STRICTMX_SPF_NS
	userns=""
	[ "$(id -u)" = 0 ] || userns="-r"	# root only in a user namespace
	exec unshare $userns -n sh "$here/run.sh" "$spf_eval"
fi

PATH=$PATH:/usr/sbin:/sbin
ip link set lo up
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strictmx-spf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

rc=0
"$PYTHON" "$here/run_suite.py" --spf-eval "$spf_eval" \
    --server 127.0.0.1:53 -t 1 -T 20 >"$tmp/suite" 2>&1 || rc=1
"$PYTHON" "$here/pyspf_diff.py" --spf-eval "$spf_eval" \
    --server 127.0.0.1:53 -t 1 -T 20 >"$tmp/diff" 2>&1 || rc=1
echo "# RFC 7208 suite (run_suite.py)"
cat "$tmp/suite"
echo "# differential test against pyspf (pyspf_diff.py)"
cat "$tmp/diff"

# The total of the two "N passed, M failed" lines; a script that printed
# none (crashed) counts as one failure.
total() {
	p=0; f=0
	for log in "$tmp/suite" "$tmp/diff"; do
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
		if [ -z "$line" ]; then f=$((f + 1)); continue; fi
		set -- $line
		p=$((p + $1)); f=$((f + $3))
	done
	echo "$p passed, $f failed"
}
total
exit "$rc"
