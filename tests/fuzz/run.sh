#!/bin/sh
# run.sh - build the strictmx libFuzzer harnesses with clang (fuzzer,
# address and undefined sanitizers) and run each for a bounded time.
#
# usage: tests/fuzz/run.sh [-t SECONDS] [-j JOBS] [NAME...]
#        tests/fuzz/run.sh -r NAME FILE...      replay inputs, no fuzzing
#   NAME      addr data conf cbv_reply spf dkim dmarc session
#             (default: all eight)
#   -t        seconds of fuzzing per harness (default $FUZZ_TIME or 20)
#   -j        parallel fuzzing jobs per harness (default 1)
#   CC        the compiler (default clang; it must know -fsanitize=fuzzer)
#   FUZZ_OUT  work directory: binaries, corpora, crash files
#             (default /tmp/strictmx-fuzz.$USER); the source tree is never
#             written, the seed corpora are copied from tests/fuzz/corpus
#
# First every file in tests/fuzz/crashes/NAME-* (known bugs, kept as
# reproducers) is replayed; then each harness fuzzes. Exit status: 0 when
# nothing crashed, 1 when a harness found (or replayed) a crash: the
# reproducer is left in $FUZZ_OUT/NAME/crash-* and its path printed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
src=$top/smtpd
CC=${CC:-clang}
OUT=${FUZZ_OUT:-/tmp/strictmx-fuzz.$(id -un)}
TIME=${FUZZ_TIME:-20}
JOBS=1
REPLAY=no

while getopts t:j:r opt; do
	case $opt in
	t) TIME=$OPTARG ;;
	j) JOBS=$OPTARG ;;
	r) REPLAY=yes ;;
	*) sed -n '2,20p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

CFLAGS="-std=gnu11 -g -O1 -fno-omit-frame-pointer \
 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 -I$src -DLOCALSTATEDIR=\"/var\""
# Leaks count as failures; a slow input (> 10 s) too.
FUZZ_ARGS="-timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# sources each harness links: the pure parser and what it calls
sources() {
	case $1 in
	addr) echo "$src/addr.c $src/idna.c" ;;
	data) echo "$src/data.c" ;;
	conf) echo "$src/conf.c $src/conf_value.c $src/cidr.c $src/log.c \
		$src/xmalloc.c $src/addr.c $src/idna.c" ;;
	cbv_reply) echo "$src/cbv_smtp.c $src/cbv.c $src/cbv_guard.c \
		$src/cbv_rate.c $src/resolver.c $src/resolver_addr.c \
		$src/resolver_cache.c \
		$src/log.c $src/xmalloc.c $src/conf.c $src/conf_value.c \
		$src/cidr.c $src/addr.c $src/idna.c" ;;
	spf) echo "$src/spf_record.c $src/spf_macro.c $src/xmalloc.c \
		$src/log.c" ;;
	dkim) echo "$src/msghdr.c $src/dkim_tag.c $src/dkim_sig.c \
		$src/dkim_key.c $src/dkim_canon.c $src/xmalloc.c $src/log.c" ;;
	dmarc) echo "$src/dmarc_record.c $src/dmarc_from.c $src/msghdr.c \
		$src/idna.c $src/xmalloc.c $src/log.c" ;;
	# the whole session: the daemon's modules from server.c down, with
	# DNS, maildir, stats and the CBV client replaced by stand-ins
	session) echo "$here/fuzz_session_stubs.c $src/server.c \
		$src/session.c $src/command.c $src/transfer.c $src/data.c \
		$src/addr.c $src/idna.c $src/authres.c $src/fcrdns.c \
		$src/helo.c $src/sender.c $src/sender_dmp.c \
		$src/sender_verdict.c $src/spf_policy.c $src/msgauth.c \
		$src/cbv_cache.c $src/cbv_rate.c $src/notify.c $src/tls.c \
		$src/spf.c \
		$src/spf_mechanism.c $src/spf_record.c $src/spf_macro.c \
		$src/msghdr.c $src/dkim.c $src/dkim_tag.c $src/dkim_canon.c \
		$src/dkim_sig.c $src/dkim_key.c $src/dkim_hash.c $src/dmarc.c \
		$src/dmarc_from.c $src/dmarc_record.c $src/dmarc_policy.c \
		$src/table.c $src/conf.c $src/conf_value.c $src/cidr.c \
		$src/log.c $src/xmalloc.c $src/resolver_addr.c" ;;
	*) echo "run.sh: unknown harness $1" >&2; return 1 ;;
	esac
}

libs() {
	case $1 in
	addr|conf|dmarc) echo "-lidn2" ;;
	cbv_reply) echo "-levent -ludns -lidn2" ;;
	dkim) echo "-lcrypto" ;;
	session) echo "-levent -levent_openssl -lssl -lcrypto -lsqlite3 \
		-ludns -lidn2 -lpsl" ;;
	*) echo "" ;;
	esac
}

# longest input: past each parser's own bounds (DATA_LINE_MAX 65536 with
# the run expansion of fuzz_data, CONF_LINE_MAX 4096, CBV_REPLY_MAX 4096)
maxlen() {
	case $1 in
	data) echo 8192 ;;
	conf) echo 16384 ;;
	cbv_reply) echo 12288 ;;
	session) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

dict() {
	case $1 in
	conf) echo "-dict=$here/fuzz_conf.dict" ;;
	dmarc) echo "-dict=$here/fuzz_dmarc.dict" ;;
	session) echo "-dict=$here/fuzz_session.dict" ;;
	*) echo "-dict=$here/fuzz_smtp.dict" ;;
	esac
}

build() {
	mkdir -p "$OUT/$1"
	# shellcheck disable=SC2046
	$CC $CFLAGS -o "$OUT/$1/fuzz_$1" "$here/fuzz_$1.c" $(sources "$1") \
	    $(libs "$1")
}

if ! $CC --version >/dev/null 2>&1; then
	echo "run.sh: no $CC (apt-get install clang)" >&2
	exit 2
fi

if [ $# -eq 0 ]; then
	set -- addr data conf cbv_reply spf dkim dmarc session
fi

if [ $REPLAY = yes ]; then
	name=$1
	shift
	build "$name"
	exec "$OUT/$name/fuzz_$name" "$@"
fi

status=0
for name in "$@"; do
	echo "== fuzz_$name: build"
	build "$name"
	bin=$OUT/$name/fuzz_$name

	# known reproducers first: each must run clean once the bug is fixed
	for f in "$here"/crashes/"$name"-*; do
		[ -f "$f" ] || continue
		if ! "$bin" "$f" >"$OUT/$name/replay.log" 2>&1; then
			echo "FAIL fuzz_$name: known reproducer still crashes: $f"
			tail -30 "$OUT/$name/replay.log"
			status=1
		fi
	done

	corpus=$OUT/$name/corpus
	mkdir -p "$corpus"
	if [ -d "$here/corpus/$name" ]; then
		cp "$here/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	fi
	rm -f "$OUT/$name"/crash-* "$OUT/$name"/leak-* "$OUT/$name"/timeout-* \
	    "$OUT/$name"/oom-*
	echo "== fuzz_$name: fuzzing for ${TIME}s"
	par=""
	if [ "$JOBS" -gt 1 ]; then
		par="-jobs=$JOBS -workers=$JOBS"
	fi
	# shellcheck disable=SC2046,SC2086
	if (cd "$OUT/$name" && "$bin" $FUZZ_ARGS $(dict "$name") \
	    -max_len="$(maxlen "$name")" \
	    -max_total_time="$TIME" $par \
	    -artifact_prefix="$OUT/$name/" "$corpus" \
	    >"$OUT/$name/fuzz.log" 2>&1); then
		grep -a -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' \
		    "$OUT/$name/fuzz.log" | tail -2 || true
		echo "ok   fuzz_$name"
	else
		echo "FAIL fuzz_$name (log: $OUT/$name/fuzz.log)"
		grep -a -E 'ERROR:|runtime error|SUMMARY|Assertion|#[0-9]+ 0x' \
		    "$OUT/$name/fuzz.log" | head -20 || true
		for f in "$OUT/$name"/crash-* "$OUT/$name"/leak-* \
		    "$OUT/$name"/timeout-* "$OUT/$name"/oom-*; do
			[ -f "$f" ] && echo "     reproducer: $f"
		done
		status=1
	fi
done
exit $status
