#!/bin/sh
# build-deps.sh - the Debian 12 packages strictmx needs to build from this
# tree and to run: a compiler, autotools, the libraries configure.ac asks
# for, the public suffix list (DMARC), the sqlite3 shell for looking into
# stats_db. Nothing else: no MTA (Debian's mail-transport-agent conflicts
# would replace the machine's own), no test tool. tests/install-deps.sh
# installs these plus what the tests need. Run as root; safe to run again.
set -e
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential autoconf automake pkg-config libevent-dev libssl-dev
libudns-dev libidn2-dev libpsl-dev publicsuffix libsqlite3-dev sqlite3"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
