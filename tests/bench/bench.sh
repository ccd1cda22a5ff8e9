#!/bin/bash
# bench.sh - strictmxd at the disk's limit and against Postfix 3.7, the cost
# of its HELO and sender policies, and the cost of SPF, DKIM and DMARC, side
# by side in one run, on loopback inside a private network namespace.
#
# usage (as root, from the top of a build tree):
#   tests/bench/bench.sh
#   STRICTMXD     the daemon (default ./smtpd/strictmxd, relative to the cwd)
#   STRICTMXD_BASELINE  an older daemon (optional): run as "smx-base" with
#                 strictmx's policies-off configuration on the 1- and
#                 20-session 1 KiB 1-recipient loads; its CPU per message is
#                 "today's" of target (c)
#   BENCH_TMPDIR  where the maildirs, queues and databases go (default
#                 /var/tmp); it should be a disk, not tmpfs: fsync is part
#                 of what is measured, and the ceiling is measured there
#   BENCH_SECTIONS  which parts run, comma-separated (default
#                 disk,policy,auth): disk (the matrix: sessions 1, 10, 20 x
#                 1 KiB, 100 KiB x 1, 5 recipients; strictmx and Postfix),
#                 policy (smx-pol, smx-mem, smx-base beside strictmx on the 1- and
#                 20-session 1 KiB 1-recipient loads; alone, only those two
#                 loads run), auth (SPF, DKIM, DMARC: smx-all and smx-spf
#                 against strictmx, 4 KiB signed message, 20 sessions). The
#                 ceiling runs with disk or policy.
#   BENCH_REPS    repetitions of the disk and policy loads (default 5)
#   BENCH_AUTH_REPS  repetitions of the auth loads (default 3)
#   BENCH_SCALE   factor on every message count (default 1; 0.3 for a quick
#                 look: the trials get short and noisy)
#   BENCH_CEIL_SECONDS  seconds of each ceiling measurement (default 4)
#   BENCH_MATRIX_SESSIONS  the session counts of the matrix (default
#                 "1 10 20")
#   BENCH_SIZE    body bytes of the signed message of auth (default 4096)
#   BENCH_MSGS1, BENCH_MSGS5  messages of auth's 1- and 5-recipient loads
#                 (default 3000, 1500)
#   BENCH_SPF     the SPF record smx-all and smx-spf evaluate: "include"
#                 (default: an
#                 mx and an include: mechanism, 4 DNS queries per message)
#                 or "ip4" (one TXT lookup)
#   BENCH_SPF_POLICY  spf_policy of smx-spf (default enforce); "off" makes
#                 smx-spf a second policies-off instance (tests the script
#                 on a daemon without SPF)
#   BENCH_KEEP=1  keep the temp dir (logs, databases, messages)
#   BENCH_PERF=SERVER[,SERVER...]  perf record -g those servers' daemons
#                 during each of their measured trials and print the share
#                 of each object and the top symbols after each
#                 (perf costs CPU: not for the figures of the same run)
#
# The ceiling ("ceiling-N", N = 1, 10, 20): trial.py ceiling, N forked
# processes looping on open tmp/NAME O_EXCL, write 4 KiB, fsync, close,
# rename into new/, fsync(new/) in one directory of the same filesystem for
# BENCH_CEIL_SECONDS: what durable delivery costs at least. It is measured
# in every repetition, just before the loads with N sessions, and the
# summary divides strictmx's rate of each load by the ceiling of as many
# writers as the load has sessions, paired within a repetition and as a
# ratio of medians.
#
# Servers, all receiving by SMTP from Postfix's smtp-source (one connection
# per message, HELO client.example) into maildirs on the same filesystem:
# strictmx (strictmxd, every policy off), postfix, smx-pol (strictmxd with
# helo_policy enforce and sender_policy enforce with call-back
# verification: the sender domain sender.example has its MX on a scripted
# SMTP responder at 127.0.0.2:25; the warm-up fills the CBV cache, and a
# measured trial counts only when the stats database shows every sender
# decided "pass" by the cache and the responder saw no probe), smx-base
# (STRICTMXD_BASELINE with strictmx's configuration), smx-mem (strictmx
# with its maildirs on a tmpfs, where fsync is free: what the SMTP dialogue
# alone allows, the bound a disk can only lower), and, for auth, smx-all
# (spf_policy enforce, dkim_verify yes, dmarc_policy enforce) and smx-spf
# (spf_policy enforce only). Each trial is timed until the last file is in a
# maildir new/ directory (see trial.py for why) and counts (ok=1) only when
# every file is there; in the matrix and policy loads every delivered file
# must also end with the exact body sent. The auth checks are those of
# issues 8 and 9 (see the README). The order of the servers rotates
# between repetitions. The summary prints per load the medians, the ratios
# strictmx/ceiling-N, strictmx/postfix, smx-pol/strictmx, smx-base, and a
# "targets" block (issue 10). Exit 0 when the run completed (a failed trial
# is shown as ok=0 and left out of the medians), 1 when setup failed.
#
# Everything is bounded: a watchdog of 1800 s around the whole run (the
# default run takes about 12 minutes), a timeout on every wait, and a PID
# namespace whose end kills anything left. Only loopback exists in the
# namespace; DNS (the PTR and A lookups every server makes for each client,
# the HELO and sender lookups, the SPF lookups, the DKIM key and the DMARC
# record) is a dnsmasq on 127.0.0.1:53.

# shellcheck disable=SC2317 # cleanup and wait_gone run from the EXIT trap
set -u

abspath() { realpath -s -m -- "$1"; }

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

if [ "${STRICTMX_BENCH_NS:-}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench.sh: run as root (it starts Postfix and a DNS server)" >&2
		exit 1
	fi
	STRICTMXD=$(abspath "${STRICTMXD:-./smtpd/strictmxd}")
	if [ -n "${STRICTMXD_BASELINE:-}" ]; then
		STRICTMXD_BASELINE=$(abspath "$STRICTMXD_BASELINE")
		export STRICTMXD_BASELINE
	fi
	STRICTMX_BENCH_NS=1
	export STRICTMXD STRICTMX_BENCH_NS
	# unshare ignores TERM while it waits for its child; after the grace
	# of -k it is killed, --kill-child kills the bash inside, and the end
	# of the PID namespace kills whatever that bash started.
	exec timeout -k 10 1800 unshare -n -m -p -f --mount-proc --kill-child \
		-- bash "$here/bench.sh" "$@"
fi

REPS=${BENCH_REPS:-5}
AUTH_REPS=${BENCH_AUTH_REPS:-3}
SECTIONS=${BENCH_SECTIONS:-disk,policy,auth}
SCALE=${BENCH_SCALE:-1}
CEIL_SECONDS=${BENCH_CEIL_SECONDS:-4}
MATRIX_SESSIONS=${BENCH_MATRIX_SESSIONS:-1 10 20}
BASELINE=${STRICTMXD_BASELINE:-}
SESSIONS=20	# of the auth loads, as in issues 8 and 9
SIZE=${BENCH_SIZE:-4096}
MSGS1=${BENCH_MSGS1:-3000}
MSGS5=${BENCH_MSGS5:-1500}
SPF=${BENCH_SPF:-include}
SPF_POLICY=${BENCH_SPF_POLICY:-enforce}
TRIAL_TIMEOUT=60
# Debian's python3: trial.py message needs python3-dkim
if [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
fi
PYTHON=${PYTHON:-python3}

SMX_PORT=2525
PF_PORT=2526
SPF_PORT=2527
ALL_PORT=2528
POL_PORT=2529
BASE_PORT=2530
MEM_PORT=2531
# the sender domain of the matrix and policy loads: its MX is the CBV
# responder on 127.0.0.2
SENDER_DOMAIN=sender.example
# the sender domain of every message, its DKIM selector
FROM_DOMAIN=client.example
SELECTOR=bench
USERS="user 2user 3user 4user 5user 6user 7user 8user 9user 10user"

D=
SMX_PID=
SPF_PID=
ALL_PID=
POL_PID=
BASE_PID=
MEM_PID=
RESP_PID=
SMX_PIDS=	# every strictmxd started, for cleanup
DNS_PID=
PF_MASTER=

say() { printf '%s\n' "$*"; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

cleanup() {
	trap - EXIT INT TERM
	local pid
	for pid in $SMX_PIDS; do
		kill "$pid" 2>/dev/null
		wait_gone "$pid" 10 || kill -9 "$pid" 2>/dev/null
	done
	if [ -n "$D" ] && [ -f "$D/pf/etc/main.cf" ]; then
		timeout 20 postfix -c "$D/pf/etc" stop >/dev/null 2>&1
		if [ -n "$PF_MASTER" ]; then
			wait_gone "$PF_MASTER" 10 ||
				kill -9 "$PF_MASTER" 2>/dev/null
		fi
	fi
	if [ -n "$RESP_PID" ]; then
		kill "$RESP_PID" 2>/dev/null
		wait_gone "$RESP_PID" 5 || kill -9 "$RESP_PID" 2>/dev/null
	fi
	if [ -n "$DNS_PID" ]; then
		kill "$DNS_PID" 2>/dev/null
		wait_gone "$DNS_PID" 5 || kill -9 "$DNS_PID" 2>/dev/null
	fi
	if [ -n "$D" ] && [ -z "${BENCH_KEEP:-}" ]; then
		umount /etc/resolv.conf /etc/nsswitch.conf "$D/mem" 2>/dev/null
		rm -rf "$D"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM


# clear_maildirs ROOT - empty new/, cur/ and tmp/ of every maildir below
# ROOT by moving each non-empty one into $D/trash (same filesystem) and
# making it again with the owner of its maildir. Nothing is deleted before
# the end of the run: on ext4 without a journal (this VM's disk), freeing
# thousands of inodes makes every inode allocation of the next minute or
# more scan past them (recently_deleted(), fs/ext4/ialloc.c); a cleanup by
# unlink would bill whichever server or ceiling runs next for it.
clear_maildirs() {
	local sub
	case $1 in
	"$D/mem"/*)	# smx-mem's tmpfs: no inode scan there, and no mv
		find "$1" -mindepth 3 -maxdepth 3 -type f -delete
		return ;;
	esac
	mkdir -p "$D/trash"
	find "$1" -mindepth 2 -maxdepth 2 -type d \
		\( -name new -o -name cur -o -name tmp \) -print |
		while read -r sub; do
			[ -n "$(ls -A "$sub")" ] || continue
			mv "$sub" "$(mktemp -u "$D/trash/XXXXXXXXXX")" &&
				mkdir -m 700 "$sub" &&
				chown --reference="$(dirname "$sub")" "$sub"
		done
}

[ -x "$STRICTMXD" ] || die "no daemon at $STRICTMXD (set STRICTMXD)"
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] ||
	die "no daemon at $BASELINE (STRICTMXD_BASELINE)"
# has SECTION - true when BENCH_SECTIONS names SECTION
has() { case ",$SECTIONS," in *",$1,"*) return 0 ;; esac; return 1; }
for sec in ${SECTIONS//,/ }; do
	case $sec in
	disk | policy | auth) ;;
	*) die "BENCH_SECTIONS: unknown section $sec (disk, policy, auth)" ;;
	esac
done
for n in $MATRIX_SESSIONS; do
	case $n in
	1 | 10 | 20) ;;
	*) die "BENCH_MATRIX_SESSIONS: $n (use 1, 10 and 20)" ;;
	esac
done
case $SPF in
ip4 | include) ;;
*) die "BENCH_SPF must be ip4 or include, not $SPF" ;;
esac
case $SPF_POLICY in
off | log | enforce) ;;
*) die "BENCH_SPF_POLICY must be off, log or enforce, not $SPF_POLICY" ;;
esac
for t in smtp-source postfix postconf postmap dnsmasq ss openssl base64 "$PYTHON"; do
	command -v "$t" >/dev/null 2>&1 || die "$t is not installed"
done
"$PYTHON" -c 'import dkim' 2>/dev/null ||
	die "$PYTHON cannot import dkim (install python3-dkim, or set PYTHON)"

ip link set lo up || die "cannot bring up lo"

D=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/strictmx-bench.XXXXXX") ||
	die "mktemp failed"
chmod 755 "$D"	# Postfix's daemons and strictmxd run unprivileged
FSTYPE=$(df --output=fstype "$D" | tail -1)
RESULTS="$D/results"

say "== strictmx benchmark: the disk's ceiling, Postfix, the HELO and sender policies, SPF, DKIM and DMARC"
say "date:       $(date -u '+%Y-%m-%d %H:%M:%SZ')"
say "host:       $(uname -srm), nproc $(nproc), $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
say "cpu:        $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
say "tmpdir:     $D (filesystem $FSTYPE, $(df --output=source "$D" | tail -1))"
say "fsync:      $("$PYTHON" "$here/trial.py" fsync "$D") (before)"
say "loadavg:    $(cut -d' ' -f1-3 /proc/loadavg) (before; other work on the host skews the numbers)"
say "strictmxd:  $STRICTMXD"
say "postfix:    $(postconf -d -h mail_version 2>/dev/null)"
say "sections:   $SECTIONS; $REPS repetitions of the disk/policy loads (sessions $MATRIX_SESSIONS), $AUTH_REPS of the auth loads; message counts x $SCALE; order of the servers rotating"
say "ceiling:    trial.py ceiling, 1/10/20 writers x $CEIL_SECONDS s in every repetition (4 KiB write, fsync, rename, fsync dir)"
say "auth load:  smtp-source -s $SESSIONS -F (one DKIM-signed message, $SIZE bytes of body): $MSGS1 messages x 1 recipient, $MSGS5 messages x 5 recipients"
say "servers:    strictmx (127.0.0.1:$SMX_PORT, every policy off), postfix (127.0.0.1:$PF_PORT), smx-pol (127.0.0.1:$POL_PORT, helo_policy and sender_policy enforce, CBV cached), smx-base (127.0.0.1:$BASE_PORT, ${BASELINE:-no STRICTMXD_BASELINE}), smx-all (127.0.0.1:$ALL_PORT, the same as strictmx but spf_policy enforce, dkim_verify yes, dmarc_policy enforce), smx-spf (127.0.0.1:$SPF_PORT, the same but spf_policy $SPF_POLICY only)"
case $SPF in
ip4) say "spf:        BENCH_SPF=ip4: client.example TXT \"v=spf1 ip4:127.0.0.1 -all\" (1 DNS query per message)" ;;
include) say "spf:        BENCH_SPF=include: client.example TXT \"v=spf1 mx include:spf.provider.example -all\", MX mail.client.example (A 192.0.2.25, no match), spf.provider.example TXT \"v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.0/8 -all\" (4 DNS queries per message: TXT, MX, A, TXT; 2 DNS-querying terms)" ;;
esac
if [ "$FSTYPE" = tmpfs ] || [ "$FSTYPE" = ramfs ]; then
	say "WARNING: $D is on $FSTYPE: fsync costs nothing there, and the numbers do not mean what they should"
fi

# --- DNS: every server looks up the client's PTR name and confirms it ------
# A private resolv.conf and nsswitch.conf (hosts from DNS only) send
# Postfix's libc lookups to the same dnsmasq that strictmx's udns asks.
# smx-spf also evaluates the SPF record of smtp-source's sender domain,
# client.example; dnsmasq answers it from its configuration (the warm cache
# of a local resolver, not the Internet's latency). The "include" record
# makes the evaluator do what a typical domain asks of it: the mx mechanism
# (MX, then A of the exchange, which does not match) and an include: of a
# provider's record, which matches 127.0.0.1. No quotes around the texts:
# on the command line (unlike in dnsmasq.conf) they would be part of the
# TXT data, and "\"v=spf1 ...\"" is no SPF record.
# shellcheck disable=SC2054 # the commas belong to dnsmasq's option values
case $SPF in
ip4) spf_dns=(--txt-record='client.example,v=spf1 ip4:127.0.0.1 -all') ;;
include) spf_dns=(--txt-record='client.example,v=spf1 mx include:spf.provider.example -all'
	--mx-host=client.example,mail.client.example,10
	--host-record=mail.client.example,192.0.2.25
	--txt-record='spf.provider.example,v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.0/8 -all') ;;
esac
# DKIM and DMARC (smx-all): an RSA-2048 key made here by openssl, its
# record at bench._domainkey.client.example, and "v=DMARC1; p=reject" at
# _dmarc.client.example. The key record (~410 bytes) is longer than one
# DNS character-string (255, RFC 1035 3.3): dnsmasq takes the pieces
# comma-separated and serves them as one TXT of several strings, which the
# verifier concatenates (RFC 6376 3.6.2.2).
openssl genrsa -out "$D/dkim.pem" 2048 >"$D/openssl.log" 2>&1 ||
	die "openssl genrsa: $(cat "$D/openssl.log")"
DKIM_TXT="v=DKIM1; k=rsa; p=$(openssl rsa -in "$D/dkim.pem" -pubout -outform DER 2>>"$D/openssl.log" | base64 -w0)"
[ ${#DKIM_TXT} -gt 300 ] || die "no public key: $(cat "$D/openssl.log")"
dkim_txt_pieces=$(printf '%s' "$DKIM_TXT" | fold -w 200 | paste -sd, -)
# shellcheck disable=SC2054 # the commas belong to dnsmasq's option values
auth_dns=(--txt-record="$SELECTOR._domainkey.$FROM_DOMAIN,$dkim_txt_pieces"
	--txt-record="_dmarc.$FROM_DOMAIN,v=DMARC1; p=reject")
MSGFILE=$D/message.eml
msginfo=$("$PYTHON" "$here/trial.py" message --key "$D/dkim.pem" \
	--txt "$DKIM_TXT" --domain $FROM_DOMAIN --selector $SELECTOR \
	--size "$SIZE" --out "$MSGFILE" 2>&1) ||
	die "cannot make the signed message: $msginfo"
say "message:    $msginfo"
say "dkim:       $SELECTOR._domainkey.$FROM_DOMAIN TXT (RSA 2048, ${#DKIM_TXT} bytes in $(printf '%s' "$dkim_txt_pieces" | tr -cd , | wc -c | awk '{print $1 + 1}') strings); _dmarc.$FROM_DOMAIN TXT \"v=DMARC1; p=reject\""
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$D/resolv.conf"
sed 's/^hosts:.*/hosts: dns/' /etc/nsswitch.conf >"$D/nsswitch.conf"
mount --bind "$D/resolv.conf" /etc/resolv.conf || die "cannot bind resolv.conf"
mount --bind "$D/nsswitch.conf" /etc/nsswitch.conf || die "cannot bind nsswitch.conf"
# --local-ttl=300: the records carry a TTL of 5 minutes, as real ones do
# (dnsmasq's default for its own records is 0, which tells every cache to
# keep nothing). strictmxd keeps them in its resolver cache; Postfix asks
# libc, which keeps nothing, and smx-base predates the cache.
dnsmasq --no-resolv --no-hosts --no-daemon --port=53 --local-ttl=300 \
	--listen-address=127.0.0.1 --bind-interfaces --user=root --group=root \
	--pid-file= --local=/example/ --local=/in-addr.arpa/ \
	--host-record=client.example,127.0.0.1 "${spf_dns[@]}" "${auth_dns[@]}" \
	--mx-host=$SENDER_DOMAIN,mx.$SENDER_DOMAIN,10 \
	--host-record=mx.$SENDER_DOMAIN,127.0.0.2 \
	>"$D/dnsmasq.log" 2>&1 &
DNS_PID=$!
i=0
until [ "$(timeout 2 getent hosts 127.0.0.1 | awk '{print $2}')" = client.example ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || die "dnsmasq does not answer: $(cat "$D/dnsmasq.log")"
	sleep 0.1
done

# dig_has TYPE NAME WORD - die unless dnsmasq's answer holds WORD (and no
# quotes inside the text: dig +short shows them as \")
dig_has() {
	local got
	got=$(timeout 5 dig +short +time=1 +tries=2 @127.0.0.1 "$1" "$2")
	case $got in
	*'\"'*) die "dnsmasq serves $1 $2 with quotes in the text: $got" ;;
	*"$3"*) ;;
	*) die "dnsmasq does not serve $1 $2 with $3: '$got'" ;;
	esac
}
if command -v dig >/dev/null 2>&1; then
	case $SPF in
	ip4) dig_has TXT client.example 'ip4:127.0.0.1 -all' ;;
	include) dig_has TXT client.example 'include:spf.provider.example'
		dig_has MX client.example '10 mail.client.example.'
		dig_has A mail.client.example 192.0.2.25
		dig_has TXT spf.provider.example 'ip4:127.0.0.0/8 -all' ;;
	esac
	dig_has TXT "_dmarc.$FROM_DOMAIN" 'v=DMARC1; p=reject'
	dig_has MX $SENDER_DOMAIN "10 mx.$SENDER_DOMAIN."
	dig_has A mx.$SENDER_DOMAIN 127.0.0.2
	dig_has A client.example 127.0.0.1
	got=$(timeout 5 dig +short +time=1 +tries=2 @127.0.0.1 TXT \
		"$SELECTOR._domainkey.$FROM_DOMAIN" | tr -d '" ')
	[ "$got" = "$(printf '%s' "$DKIM_TXT" | tr -d ' ')" ] ||
		die "dnsmasq does not serve the DKIM key record: '$got'"
fi

# --- strictmx, up to five times --------------------------------------------
# start_smx DIR PORT SPF_POLICY DKIM_VERIFY DMARC_POLICY [POLICIES [BINARY]]
# - configure and start one strictmxd whose files are all under DIR; sets
# STARTED to its PID, dies on failure. The instances differ only in port,
# directory and these policies (dkim_verify and dmarc_policy default to on:
# the policies-off instance must say no and off). POLICIES "on" turns on
# helo_policy and sender_policy (smx-pol): HELO client.example must resolve
# to the client (A and PTR in dnsmasq), and the sender's MX, the responder
# on 127.0.0.2, must accept it by call-back (cbv_forbidden_networks none:
# the builtin list forbids loopback).
start_smx() {
	local dir=$1 port=$2 spf=$3 dkim=$4 dmarc=$5 pol=${6:-off}
	local bin=${7:-$STRICTMXD} u
	mkdir -p "$dir/mail" "$dir/db"
	chown nobody:nogroup "$dir/mail" "$dir/db"
	: >"$dir/recipients"
	for u in postmaster $USERS; do
		printf '%s@bench.example %s\n' "$u" "$u" >>"$dir/recipients"
	done
	smx_conf "$dir" "$port" >"$dir/strictmx.conf"
	cat >>"$dir/strictmx.conf" <<EOF
spf_policy		$spf
dkim_verify		$dkim
dmarc_policy		$dmarc
# smtp-source opens a new connection per message: a client may reconnect
# before the server has seen its last close; Postfix's limit does not
# apply to mynetworks at all.
max_clients_per_ip	1000
EOF
	if [ "$pol" = on ]; then
		cat >>"$dir/strictmx.conf" <<EOF
helo_policy		enforce
helo_match		any
sender_policy		enforce
cbv			yes
cbv_forbidden_networks	none
EOF
	else
		printf 'helo_policy\t\toff\nsender_policy\t\toff\n' \
			>>"$dir/strictmx.conf"
	fi
	"$bin" -n -f "$dir/strictmx.conf" >"$dir/check.log" 2>&1 ||
		die "strictmxd -n ($dir): $(cat "$dir/check.log")"
	"$bin" -d -f "$dir/strictmx.conf" </dev/null >"$dir/log" 2>&1 &
	STARTED=$!
	SMX_PIDS="$SMX_PIDS $STARTED"
	wait_listen "$port" 10 ||
		die "strictmxd ($dir) does not listen: $(tail -5 "$dir/log")"
}
start_smx "$D/smx" $SMX_PORT off no off
SMX_PID=$STARTED
if has auth; then
	start_smx "$D/all" $ALL_PORT enforce yes enforce
	ALL_PID=$STARTED
	start_smx "$D/spf" $SPF_PORT "$SPF_POLICY" no off
	SPF_PID=$STARTED
fi
if has policy; then
	# the sender domain's MX, for smx-pol's call-back probes
	"$PYTHON" "$here/trial.py" responder --listen 127.0.0.2:25 \
		--count "$D/probes" >"$D/responder.log" 2>&1 &
	RESP_PID=$!
	i=0
	until ss -Hltn 'src 127.0.0.2 and sport = :25' | grep -q .; do
		i=$((i + 1))
		[ $i -lt 100 ] ||
			die "the CBV responder does not listen: $(cat "$D/responder.log")"
		sleep 0.1
	done
	start_smx "$D/pol" $POL_PORT off no off on
	POL_PID=$STARTED
	if [ -n "$BASELINE" ]; then
		start_smx "$D/base" $BASE_PORT off no off off "$BASELINE"
		BASE_PID=$STARTED
	fi
	# smx-mem: strictmx with its maildirs and database on a tmpfs, where
	# fsync costs nothing: the rate of the SMTP dialogue alone
	mkdir -p "$D/mem"
	mount -t tmpfs -o size=1g,mode=755 tmpfs "$D/mem" ||
		die "cannot mount a tmpfs for smx-mem"
	start_smx "$D/mem" $MEM_PORT off no off
	MEM_PID=$STARTED
fi

# --- Postfix ---------------------------------------------------------------
# Postfix is in the disk matrix only
if has disk; then
	mkdir -p "$D/pf/etc" "$D/pf/queue" "$D/pf/data" "$D/pf/mail"
	chown postfix "$D/pf/data"
	chown nobody:nogroup "$D/pf/mail"
	cp /etc/postfix/master.cf "$D/pf/etc/"
	: >"$D/pf/etc/vmailbox"
	for u in postmaster $USERS; do
		printf '%s@bench.example %s/\n' "$u" "$u" >>"$D/pf/etc/vmailbox"
	done
	cat >"$D/pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $D/pf/queue
data_directory = $D/pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx2.bench.example
mydomain = bench.example
myorigin = bench.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains =
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = bench.example
virtual_mailbox_base = $D/pf/mail
virtual_mailbox_maps = hash:$D/pf/etc/vmailbox
virtual_minimum_uid = 100
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file_prefixes = $D
maillog_file = $D/pf/maillog
biff = no
EOF
	postmap -c "$D/pf/etc" "$D/pf/etc/vmailbox" || die "postmap failed"
	# no chroot (it would need copies of /etc files in the queue); SMTP on 2526
	postconf -c "$D/pf/etc" -F '*/*/chroot = n' || die "postconf -F failed"
	postconf -c "$D/pf/etc" -MX smtp/inet || die "postconf -MX failed"
	postconf -c "$D/pf/etc" -M "127.0.0.1:$PF_PORT/inet = 127.0.0.1:$PF_PORT inet n - n - - smtpd" ||
		die "postconf -M failed"
	timeout 60 postfix -c "$D/pf/etc" start >"$D/pf/start.log" 2>&1 ||
		die "postfix start: $(cat "$D/pf/start.log") $(tail -5 "$D/pf/maillog" 2>/dev/null)"
	i=0
	until PF_MASTER=$(awk '{print $1; exit}' "$D/pf/queue/pid/master.pid" 2>/dev/null) &&
		[ -n "$PF_MASTER" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || die "no Postfix master.pid"
		sleep 0.1
	done
	wait_listen $PF_PORT 10 || die "Postfix does not listen: $(tail -5 "$D/pf/maillog")"
fi

# --- the loads -------------------------------------------------------------
# Matrix and policy loads send an unsigned message (MSG1K, MSG100K) from
# sender@sender.example, and every file delivered must end with its body.
# The auth loads send the signed message from sender@client.example, and
# smx-all must log an SPF pass and a DKIM and DMARC pass for every message,
# and put dkim=pass and dmarc=pass into the Authentication-Results on top of
# every file it delivers; smx-spf must log an SPF pass for every message
# and no DKIM or DMARC line; strictmx must log no SPF, DKIM or DMARC
# evaluation at all (it is the policies-off reference). A measured smx-pol
# trial must find every sender decided "pass" by the CBV cache in its
# stats database and cause no probe at the responder.
case $SPF_POLICY in
off) SPF_EXPECT=none ;;
*) SPF_EXPECT=pass ;;
esac
MSG1K=$D/message-1k.eml
MSG100K=$D/message-100k.eml
info1=$("$PYTHON" "$here/trial.py" plain --size 1024 --domain $SENDER_DOMAIN \
	--out "$MSG1K" 2>&1) || die "cannot make the 1 KiB message: $info1"
info100=$("$PYTHON" "$here/trial.py" plain --size 102400 \
	--domain $SENDER_DOMAIN --out "$MSG100K" 2>&1) ||
	die "cannot make the 100 KiB message: $info100"
say "plain:      1 KiB: $info1; 100 KiB: $info100 (from sender@$SENDER_DOMAIN)"

# trial SERVER LOAD REP MSGS RCPTS SESSIONS KIND - one measured smtp-source
# run; KIND is 1k, 100k (the plain messages) or signed (auth's message)
trial() {
	local server=$1 load=$2 rep=$3 msgs=$4 rcpts=$5 sessions=$6 kind=$7
	local port root mail log msgfile from
	local check=()
	case $server in
	strictmx) port=$SMX_PORT root=$SMX_PID mail=$D/smx/mail log=$D/smx/log
		check=(--spf-log "$log" --spf-expect none
			--auth-log "$log" --auth-expect none) ;;
	smx-all) port=$ALL_PORT root=$ALL_PID mail=$D/all/mail log=$D/all/log
		check=(--spf-log "$log" --spf-expect pass
			--spf-domain "$FROM_DOMAIN"
			--auth-log "$log" --auth-expect pass
			--auth-domain "$FROM_DOMAIN" --authserv-id mx.bench.example) ;;
	smx-spf) port=$SPF_PORT root=$SPF_PID mail=$D/spf/mail log=$D/spf/log
		check=(--spf-log "$log" --spf-expect "$SPF_EXPECT"
			--spf-domain "$FROM_DOMAIN"
			--auth-log "$log" --auth-expect none) ;;
	smx-pol) port=$POL_PORT root=$POL_PID mail=$D/pol/mail log=$D/pol/log
		check=(--spf-log "$log" --spf-expect none
			--auth-log "$log" --auth-expect none)
		# the warm-up fills the cache; measured trials must use it
		[ "$rep" = 0 ] || check+=(--cbv-db "$D/pol/db/stats.db"
			--probe-count "$D/probes") ;;
	smx-base) port=$BASE_PORT root=$BASE_PID mail=$D/base/mail
		log=$D/base/log ;;
	smx-mem) port=$MEM_PORT root=$MEM_PID mail=$D/mem/mail log=$D/mem/log ;;
	postfix) port=$PF_PORT root=$PF_MASTER mail=$D/pf/mail log=$D/pf/maillog ;;
	esac
	case $kind in
	1k) msgfile=$MSG1K from=sender@$SENDER_DOMAIN check+=(--body "$msgfile") ;;
	100k) msgfile=$MSG100K from=sender@$SENDER_DOMAIN check+=(--body "$msgfile") ;;
	signed) msgfile=$MSGFILE from=sender@$FROM_DOMAIN ;;
	esac
	clear_maildirs "$mail"
	sync
	local perf_pid=
	case ",${BENCH_PERF:-},:$rep" in
	*",$server,"*:0) ;;	# the warm-up
	*",$server,"*)
		perf record -q -g -o "$D/perf.$server.$load.$rep.data" -p "$root" \
			>/dev/null 2>&1 &
		perf_pid=$!
		sleep 0.5 ;;
	esac
	"$PYTHON" "$here/trial.py" run --server "$server" --load "$load" \
		--rep "$rep" --root "$root" --maildirs "$mail" \
		--msgs "$msgs" --expect $((msgs * rcpts)) \
		--timeout $TRIAL_TIMEOUT --out "$RESULTS" "${check[@]}" -- \
		timeout $((TRIAL_TIMEOUT + 5)) smtp-source -s "$sessions" \
		-m "$msgs" -F "$msgfile" -r "$rcpts" -M client.example \
		-f "$from" -t user@bench.example \
		"127.0.0.1:$port" ||
		say "   (trial failed; $server log: $(tail -2 "$log" | tr '\n' ' '))"
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid"
		say "perf $server $load rep $rep: CPU share of each object, then the top symbols (self)"
		perf report -q -g none -i "$D/perf.$server.$load.$rep.data" --no-children \
			--sort dso 2>/dev/null | grep -v '^$' | head -8
		perf report -q -g none -i "$D/perf.$server.$load.$rep.data" --no-children \
			--sort dso,symbol 2>/dev/null | grep -v '^$' | head -25
	fi
	clear_maildirs "$mail"	# 100 KiB x 5 recipients: do not keep it
}

# scaled N - N x BENCH_SCALE, at least 20
scaled() { awk -v n="$1" -v f="$SCALE" 'BEGIN { n = int(n * f); print (n < 20 ? 20 : n) }'; }

# counts SESSIONS KIB RCPTS - set MSGS (strictmx and the other strictmxd)
# and PF_MSGS (Postfix) of a matrix load: about 2-3 s of each at the
# rates of this 2-core VM after issue 10 (strictmx ~1000 msg/s with 1
# session, ~3800 with 20, less at 100 KiB and 5 recipients; Postfix 2-4
# times slower): rates are compared, not times.
counts() {
	local m p
	case $1-$2-$3 in
	1-1-1) m=2500 p=1300 ;;
	1-1-5) m=1500 p=900 ;;
	1-100-1) m=1700 p=1000 ;;
	1-100-5) m=1000 p=600 ;;
	10-1-1) m=7000 p=2500 ;;
	10-1-5) m=4500 p=1400 ;;
	10-100-1) m=3500 p=1700 ;;
	10-100-5) m=2500 p=700 ;;
	20-1-1) m=8000 p=2200 ;;
	20-1-5) m=5000 p=1200 ;;
	20-100-1) m=4000 p=1400 ;;
	20-100-5) m=2500 p=650 ;;
	esac
	MSGS=$(scaled $m)
	PF_MSGS=$(scaled $p)
}

# the servers of a load, rotated by repetition (each server takes each
# place in turn, so none is always first after the ceiling or a sync)
# servers_of LOAD - the servers a disk/policy load runs
servers_of() {
	local list=strictmx
	has disk && list="$list postfix"
	case $1 in
	s1-1k-1r | s20-1k-1r)
		if has policy; then
			list="$list smx-pol smx-mem"
			[ -z "$BASELINE" ] || list="$list smx-base"
		fi ;;
	esac
	printf '%s\n' "$list"
}
# rotate N WORDS... - the words, starting at the (N mod count)-th
rotate() {
	local n=$1 k
	shift
	k=$((n % $#))
	printf '%s\n' "${*:k+1} ${*:1:k}"
}

# loads_of SESSIONS - the disk/policy loads with that many sessions
loads_of() {
	if has disk; then
		printf '%s\n' "s$1-1k-1r s$1-1k-5r s$1-100k-1r s$1-100k-5r"
	else
		case $1 in
		1 | 20) printf '%s\n' "s$1-1k-1r" ;;
		esac
	fi
}

# A warm-up for each server, not measured: Postfix spawns its daemons,
# strictmx creates its maildirs and database, smx-pol probes the sender
# once and caches the result, all fill the page cache. It also checks,
# before anything is measured, that every check of a trial holds.
say
say "warm-up (not measured)"
WARM=strictmx
has disk && WARM="$WARM postfix"
has policy && WARM="$WARM smx-pol smx-mem"
has policy && [ -n "$BASELINE" ] && WARM="$WARM smx-base"
for s in $WARM; do
	RESULTS="$D/warmup" trial "$s" warmup 0 200 5 20 1k >/dev/null
done
if has auth; then
	for s in strictmx smx-all smx-spf; do
		RESULTS="$D/warmup" trial "$s" warmup 0 200 5 20 signed >/dev/null
	done
fi
grep -q 'ok=0' "$D/warmup" && die "warm-up failed: $(cat "$D/warmup")"
if has policy; then
	[ "$(cat "$D/probes")" -ge 1 ] ||
		die "smx-pol's warm-up made no call-back probe: $(tail -5 "$D/pol/log")"
	say "cbv:        the warm-up made $(cat "$D/probes") probe(s) to the responder; measured smx-pol trials must make none"
	# the HELO policy is on: a name that does not resolve is refused
	code=$(timeout 20 "$PYTHON" -c 'import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
print(s.ehlo("unknown.example")[0])
s.close()' "$POL_PORT" 2>&1)
	case $code in
	5*) say "helo:       smx-pol answers $code to EHLO unknown.example (the policy is on)" ;;
	*) die "smx-pol accepts EHLO unknown.example: $code" ;;
	esac
fi

say "trials"
if has disk || has policy; then
	rep=1
	while [ "$rep" -le "$REPS" ]; do
		for n in $MATRIX_SESSIONS; do
			loads=$(loads_of "$n")
			[ -n "$loads" ] || continue
			"$PYTHON" "$here/trial.py" ceiling "$D/ceiling" \
				--writers "$n" --seconds "$CEIL_SECONDS" \
				--trash "$D/trash" \
				--out "$RESULTS" --rep "$rep" ||
				say "   (ceiling with $n writers failed)"
			for load in $loads; do
				kib=${load#s"$n"-}
				kib=${kib%%k-*}
				rcpts=${load##*-}
				rcpts=${rcpts%r}
				counts "$n" "$kib" "$rcpts"
				# shellcheck disable=SC2046 # a list of words
				for s in $(rotate "$rep" $(servers_of "$load")); do
					m=$MSGS
					[ "$s" != postfix ] || m=$PF_MSGS
					trial "$s" "$load" "$rep" "$m" "$rcpts" "$n" "${kib}k"
				done
			done
		done
		rep=$((rep + 1))
	done
fi
if has auth; then
	rep=1
	while [ "$rep" -le "$AUTH_REPS" ]; do
		for load in auth-1r auth-5r; do
			case $load in
			auth-1r) msgs=$MSGS1 rcpts=1 ;;
			auth-5r) msgs=$MSGS5 rcpts=5 ;;
			esac
			msgs=$(scaled "$msgs")
			for s in $(rotate "$rep" strictmx smx-all smx-spf); do
				trial "$s" "$load" "$rep" "$msgs" "$rcpts" "$SESSIONS" signed
			done
		done
		rep=$((rep + 1))
	done
fi

say
say "fsync:      $("$PYTHON" "$here/trial.py" fsync "$D") (after)"
say "loadavg:    $(cut -d' ' -f1-3 /proc/loadavg) (after)"
# Every server must have found the client's name for every session, or it
# waited for DNS (strictmx holds the greeting up to 2 s for it).
# smx_sessions NAME DIR - the sessions summary of one strictmxd's log
smx_sessions() {
	local n noptr slowest
	n=$(grep -c ' disconnect client=' "$2/log")
	noptr=$(grep -c ' disconnect client=.* ptr=unknown' "$2/log")
	slowest=$(sed -n 's/.* disconnect client=.* duration=\([0-9.]*\).*/\1/p' "$2/log" | sort -n | tail -1)
	printf '%s %s (client name not found: %s; slowest %s s)' \
		"$1" "$n" "$noptr" "${slowest:-?}"
}
line=$(smx_sessions strictmx "$D/smx")
if has disk; then
	pf_sessions=$(grep -c 'smtpd\[[0-9]*\]: connect from ' "$D/pf/maillog")
	pf_noptr=$(grep -c 'smtpd\[[0-9]*\]: connect from unknown\[' "$D/pf/maillog")
	line="$line, postfix $pf_sessions (client name not found: $pf_noptr)"
fi
if has policy; then
	line="$line, $(smx_sessions smx-pol "$D/pol")"
	[ -z "$BASELINE" ] || line="$line, $(smx_sessions smx-base "$D/base")"
fi
if has auth; then
	line="$line, $(smx_sessions smx-all "$D/all"), $(smx_sessions smx-spf "$D/spf")"
fi
say "sessions:   $line"
if has policy; then
	say "cbv:        responder probed $(cat "$D/probes") time(s) in all (the warm-up's); smx-pol's sender verdicts (decided by, outcome, count): $("$PYTHON" "$here/trial.py" cbvstat "$D/pol/db/stats.db" 2>&1)"
	say "helo:       smx-pol refused $(grep -c ' refused client=' "$D/pol/log") session(s) in all (1: the EHLO unknown.example check)"
fi
# spf_count DIR - "N SPF passes and M other SPF results" in DIR/log
spf_count() {
	printf '%s SPF passes and %s other SPF results' \
		"$(grep -c " spf=pass identity=mailfrom domain=$FROM_DOMAIN" "$1/log")" \
		"$(grep ' spf=[a-z]* identity=' "$1/log" | grep -vc ' spf=pass ')"
}
if has auth; then
	say "spf:        smx-all logged $(spf_count "$D/all"), smx-spf $(spf_count "$D/spf") in all ($SPF record; smx-spf: spf_policy $SPF_POLICY)"
	say "dkim+dmarc: smx-all logged $(grep -c " dkim=pass:$FROM_DOMAIN dmarc=pass from_domain=$FROM_DOMAIN policy=reject disposition=none action=deliver" "$D/all/log") messages with dkim=pass and dmarc=pass and $(grep ' dkim=[^ ]* dmarc=[^ ]* from_domain=' "$D/all/log" | grep -vc " dkim=pass:$FROM_DOMAIN dmarc=pass ") others in all; DKIM/DMARC lines of strictmx: $(grep -c ' dkim=[^ ]* dmarc=[^ ]* from_domain=' "$D/smx/log"), of smx-spf: $(grep -c ' dkim=[^ ]* dmarc=[^ ]* from_domain=' "$D/spf/log")"
fi
say
cat <<'EOF'
msg/s       messages / time until the last file is in a maildir new/
smtp msg/s  messages / time until smtp-source ended (Postfix: queued, not yet
            delivered; strictmx: delivered, it answers 250 after the fsyncs)
cpu ms/msg  CPU time of the server's processes per message (user + system)
mem_kB      the strictmxd: VmHWM of the one process; Postfix: the peak of
            the sampled sum of Rss over the master and all its children
pss_kB      the peak sampled sum of Pss (shared pages split among sharers)
uss_kB      the peak sampled sum of private pages
retr, ldav  TCP retransmissions during the trial, 1-minute load average
            at its start
spf         smx-all, smx-spf: the SPF passes/other SPF results their log
            shows for the trial (must be one pass per message and 0);
            strictmx: SPF evaluations logged (must be 0/0)
dkim+dmarc  smx-all: the messages logged with dkim=pass:client.example
            and dmarc=pass, delivered/other DKIM and DMARC lines (must be
            one per message and 0; every file's Authentication-Results is
            checked too); strictmx, smx-spf: such lines (must be 0/0)
body        disk/policy loads: delivered files ending with the exact body
            sent / files (must be all)
cbv         smx-pol: sender verdicts "pass" from the CBV cache / other
            verdicts in the stats database, and probes the responder saw
            during the trial (must be one per message, 0 and 0)
ceiling-N   trial.py ceiling with N writers in the same repetition: its
            msg/s is durable 4 KiB deliveries (write, fsync, rename,
            fsync dir) per second; strictmx/ceiling-N divides strictmx's
            rate by the ceiling of as many writers as sessions
paired      the median over the repetitions of the ratio of two rates
            measured in the same repetition
EOF
say
"$PYTHON" "$here/trial.py" summary "$RESULTS" ${BASELINE:+--baseline}
exit 0
