#!/bin/sh
# install-deps.sh - the Debian 12 packages strictmx needs to build, run and
# test: ../build-deps.sh (build and run), then the test tools, among them
# Postfix as a CBV peer, which replaces another installed MTA. For a test
# machine only; the README's quick start runs build-deps.sh instead. Run as
# root; safe to run again.
set -e
export DEBIAN_FRONTEND=noninteractive
sh "$(dirname "$0")/../build-deps.sh"
PKGS="check python3 python3-pytest swaks
dnsmasq-base iproute2 util-linux groff-base mandoc openssl libnet-ssleay-perl libio-socket-ssl-perl
dpkg-dev debhelper rsync systemd python3-seccomp fail2ban postfix clang libclang-rt-14-dev
python3-spf python3-yaml python3-dkim python3-nacl python3-dnspython opendkim
opendkim-tools dovecot-imapd"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	# Postfix is a CBV peer in the tests, run from a private config
	# directory: the package must not configure a system MTA.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	# fail2ban is here for fail2ban-regex only, dovecot-imapd for a
	# private instance (tests/dovecot/run.sh): keep their services (and
	# any other) from starting while we install.
	blocker=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		blocker=1
	fi
	rc=0
	apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
	[ -z "$blocker" ] || rm -f /usr/sbin/policy-rc.d
	[ $rc -eq 0 ] || exit $rc
fi
