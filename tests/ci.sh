#!/bin/bash
# ci.sh - the whole test suite on a fresh Debian 12 machine, as root:
# install packages, build with -Werror, run unit and end-to-end tests, then
# the end-to-end tests again against an AddressSanitizer+UBSan build.
# Ends with one line "N passed, M failed" for CI.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
start=$(date +%s)
bash tests/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
status=0 broken=0
# Under the sanitizers: the end-to-end suite (the daemon as it runs, the
# resolver cache answering most of its lookups), the unit tests of the
# modules that parse untrusted bytes, and the resolver cache's own.
ASAN_TESTS="tests/unit/test_data tests/unit/test_addr tests/unit/test_maildir
tests/unit/test_helo tests/unit/test_sender tests/unit/test_idna
tests/unit/test_authres tests/unit/test_spf tests/unit/test_msghdr tests/unit/test_dkim
tests/unit/test_dmarc tests/unit/run_dmarc_test.sh
tests/unit/test_resolver_cache
tests/e2e/run.sh"

autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; echo "0 passed, 1 failed"; exit 1; }

# The hostile DKIM tests need a 16384-bit RSA key, one to three minutes of
# one core to make: make it once, on the core the builds leave idle, for
# both end-to-end runs (test_dkim_hostile.py takes it from this cache, or
# makes its own if it is not ready yet).
STRICTMX_E2E_KEYCACHE=$top/build-keycache
export STRICTMX_E2E_KEYCACHE
mkdir -p "$STRICTMX_E2E_KEYCACHE"
keygen=
if [ ! -f "$STRICTMX_E2E_KEYCACHE/k16384.pem" ]; then
	( openssl genrsa -out "$STRICTMX_E2E_KEYCACHE/k16384.pem.bg" 16384 \
	    2>/dev/null && mv "$STRICTMX_E2E_KEYCACHE/k16384.pem.bg" \
	    "$STRICTMX_E2E_KEYCACHE/k16384.pem" ) &
	keygen=$!
fi

build() {	# build DIR CFLAGS
	rm -rf "$1" && mkdir -p "$1" && cd "$1" &&
	"$top/configure" --enable-werror --sysconfdir=/etc --localstatedir=/var \
		CFLAGS="$2" >configure.out 2>&1 &&
	make -j2 >make.out 2>&1
	local rc=$?
	cd "$top"
	[ $rc -eq 0 ] || { echo "build in $1 failed:"; tail -n 40 "$1/configure.out" "$1/make.out"; }
	return $rc
}

echo "== build (-O2 -Werror)"
if build build-ci "-O2 -g"; then
	echo "== make check"
	(cd build-ci && make -j1 check) || status=1
	echo "== packaging and service checks"
	sh tests/pkg/run.sh build-ci | tee build-ci/pkg-run.tap || status=1
else
	status=1 broken=$((broken + 1))
fi

echo "== build (ASan+UBSan) and end-to-end tests under it"
san="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
if build build-asan "$san"; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	(cd build-asan && make -j1 check TESTS="$ASAN_TESTS") || status=1
else
	status=1 broken=$((broken + 1))
fi

echo "== fuzzing the parsers (libFuzzer, 5 s each)"
sh tests/fuzz/run.sh -t 5 >build-asan/fuzz.log 2>&1 || status=1
awk '/^ok /{ n++; print "ok " n " - " $2 } /^FAIL /{ n++; print "not ok " n " - " $0 }' \
	build-asan/fuzz.log | tee build-asan/fuzz.tap

[ -z "$keygen" ] || wait "$keygen"
echo "== took $(( $(date +%s) - start )) s"
python3 tests/summary.py --failed "$broken" --tap build-ci/pkg-run.tap \
	--tap build-asan/fuzz.tap build-ci build-asan || status=1
exit $status
