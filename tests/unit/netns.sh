# netns.sh - sourced by the run_*_test.sh scripts: re-run the calling
# script inside a private network namespace (loopback only), once.
#	netns_enter NAME SCRIPT ARGS...
# Exits 77 (automake's "skipped") when a tool is missing.
netns_enter() {
	_name=$1; shift
	[ "${STRICTMX_IN_NETNS:-}" = 1 ] && return 0
	for tool in unshare dnsmasq python3 ip; do
		if ! command -v "$tool" >/dev/null 2>&1 &&
		    ! [ -x "/usr/sbin/$tool" ]; then
			echo "$_name: $tool not found, skipped" >&2
			exit 77
		fi
	done
	_userns=""
	[ "$(id -u)" = 0 ] || _userns="-r"	# root only in a user namespace
	STRICTMX_IN_NETNS=1 exec unshare $_userns -n sh "$@"
}
