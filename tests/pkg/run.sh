#!/bin/sh
# run.sh - the packaging and service checks of issue 5, one TAP line each:
# the systemd unit (verify, security exposure, sandboxed run), the fail2ban
# filter on real log lines, `make install`, and the Debian package.
#	tests/pkg/run.sh BUILDDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILDDIR}" && pwd)
export STRICTMXD="$build/smtpd/strictmxd" STRICTMXCTL="$build/smtpd/strictmxctl"
n=0 failed=0
for t in unit_check.sh fail2ban_check.sh "install_check.sh $build" deb_check.sh; do
	n=$((n + 1))
	start=$(date +%s)
	# shellcheck disable=SC2086
	if (cd "$build" && sh "$here"/$t) >"$build/pkg-$n.log" 2>&1; then
		echo "ok $n - $t ($(( $(date +%s) - start )) s)"
	else
		failed=$((failed + 1))
		echo "not ok $n - $t"
		tail -n 30 "$build/pkg-$n.log" | sed 's/^/#   /'
	fi
done
echo "1..$n"
[ $failed -eq 0 ]
