# lib.sh - what bench.sh, idle.sh and profile.sh share (sourced, bash):
# waiting for a process or a port, and the base of a strictmxd config.
#
#	wait_gone PID SECONDS - true once PID has exited (or is a zombie)
#	wait_listen PORT SECONDS - true once something listens on TCP PORT
#	smx_conf DIR PORT - the keys every bench strictmxd has, its files
#	    under DIR (recipients, mail/, db/); the caller adds its policies
#	smx_policies_off - the keys that turn every policy off

# shellcheck shell=bash

wait_gone() {
	local i=0
	while [ "$i" -lt $(($2 * 10)) ]; do
		[ -e "/proc/$1" ] || return 0
		case $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) in
		Z | "") return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

wait_listen() {
	local i=0
	while [ "$i" -lt $(($2 * 10)) ]; do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

smx_conf() {
	cat <<EOF
listen			127.0.0.1:$2
hostname		mx.bench.example
domains			bench.example
recipients		recipients
maildir_root		$1/mail
stats_db		$1/db/stats.db
resolver		127.0.0.1
user			nobody
EOF
}

smx_policies_off() {
	printf '%s\t\t%s\n' helo_policy off sender_policy off spf_policy off \
		dkim_verify no dmarc_policy off
}
