#!/bin/sh
# install_check.sh - `make install DESTDIR=...` from a configured build tree
# puts everything where it belongs and never overwrites a postmaster's config.
#
# usage: tests/pkg/install_check.sh [BUILDDIR]   (default: the current dir)
#   TOP_SRCDIR  the source tree (default: two levels above this script)
#
# 1. make install DESTDIR=A: the binaries in sbindir, the three man pages,
#    the example strictmx.conf and recipients in sysconfdir/strictmx (equal
#    to conf/), the unit in systemdsystemunitdir with this build's paths;
#    the installed strictmxd -n passes on the installed config.
# 2. Modify strictmx.conf, delete recipients, make install again: the
#    modified config stays, recipients comes back.
# 3. make uninstall: everything goes but the modified config.
# 4. make install systemdsystemunitdir=/lib/systemd/system: the override
#    works (what debian/rules does).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=$(cd "${1:-.}" && pwd)
fail() { echo "install_check: FAIL: $*"; exit 1; }
ok() { echo "install_check: ok: $*"; }

[ -f "$builddir/Makefile" ] || fail "$builddir: not a configured build tree"
tmp=$(mktemp -d /tmp/strictmx-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
mk() { make -s --no-print-directory -C "$builddir" "$@" >>"$tmp/make.log" 2>&1 ||
	{ tail -30 "$tmp/make.log"; fail "make $*"; }; }

# The installation directories, as this build's (up to date) Makefile
# has them.
mk all
printf 'strictmx-dirs:\n\t@echo "sbindir=$(sbindir) sysconfdir=$(sysconfdir) mandir=$(mandir) unitdir=$(systemdsystemunitdir)"\n' \
    >"$tmp/dirs.mk"
eval "$(make -s --no-print-directory -C "$builddir" -f Makefile -f "$tmp/dirs.mk" \
    strictmx-dirs | grep '^sbindir=')"
[ -n "$sbindir" ] && [ -n "$unitdir" ] || fail "cannot read the directories"
echo "install_check: sbindir=$sbindir sysconfdir=$sysconfdir mandir=$mandir unitdir=$unitdir"

# 1.
A=$tmp/a
mk install DESTDIR="$A"
for f in "$sbindir/strictmxd" "$sbindir/strictmxctl"; do
	[ -x "$A$f" ] || fail "$f not installed"
done
for f in "$mandir/man8/strictmxd.8" "$mandir/man8/strictmxctl.8" \
    "$mandir/man5/strictmx.conf.5"; do
	[ -f "$A$f" ] || fail "$f not installed"
done
for f in strictmx.conf recipients; do
	cmp -s "$TOP_SRCDIR/conf/$f" "$A$sysconfdir/strictmx/$f" ||
		fail "$sysconfdir/strictmx/$f is not conf/$f"
done
unit=$A$unitdir/strictmxd.service
[ -f "$unit" ] || fail "$unitdir/strictmxd.service not installed"
grep -qx "ExecStart=$sbindir/strictmxd -d -f $sysconfdir/strictmx/strictmx.conf" "$unit" ||
	fail "the unit's ExecStart has not this build's paths"
grep -qx "ExecStartPre=$sbindir/strictmxd -n -f $sysconfdir/strictmx/strictmx.conf" "$unit" ||
	fail "the unit's ExecStartPre has not this build's paths"
[ "$(stat -c %a "$unit")" = 644 ] || fail "unit mode $(stat -c %a "$unit")"
# -n also proves maildir_root and stats_db's directory writable by `user`
# (not created by make install): a copy next to the installed config (its
# relative recipients) points them into $tmp and runs as whoever we are.
mkdir "$tmp/mail" "$tmp/db"
sed -e "s|^maildir_root.*|maildir_root $tmp/mail|" \
    -e "s|^stats_db.*|stats_db $tmp/db/stats.db|" -e "/^user[[:space:]]/d" \
    "$A$sysconfdir/strictmx/strictmx.conf" >"$A$sysconfdir/strictmx/check.conf"
"$A$sbindir/strictmxd" -n -f "$A$sysconfdir/strictmx/check.conf" >/dev/null ||
	fail "installed strictmxd -n on the installed config"
rm "$A$sysconfdir/strictmx/check.conf"
ok "binaries, man pages, example config and recipients, unit; strictmxd -n passes"

# 2.
echo "# the postmaster's change" >>"$A$sysconfdir/strictmx/strictmx.conf"
rm "$A$sysconfdir/strictmx/recipients"
mk install DESTDIR="$A"
tail -1 "$A$sysconfdir/strictmx/strictmx.conf" | grep -qx "# the postmaster's change" ||
	fail "a second make install overwrote strictmx.conf"
cmp -s "$TOP_SRCDIR/conf/recipients" "$A$sysconfdir/strictmx/recipients" ||
	fail "a second make install did not restore the missing recipients"
grep -q "keeping the existing .*strictmx.conf" "$tmp/make.log" ||
	fail "make install did not say it kept strictmx.conf"
ok "second make install keeps the modified strictmx.conf, restores recipients"

# 3.
mk uninstall DESTDIR="$A"
left=$(cd "$A" && find . -type f | sort)
[ "$left" = ".$sysconfdir/strictmx/strictmx.conf" ] ||
	fail "after make uninstall: $left"
ok "make uninstall leaves only the modified strictmx.conf"

# 4.
mk install DESTDIR="$tmp/b" systemdsystemunitdir=/lib/systemd/system
[ -f "$tmp/b/lib/systemd/system/strictmxd.service" ] ||
	fail "systemdsystemunitdir= override"
ok "make install systemdsystemunitdir=/lib/systemd/system"
echo "install_check: PASS"
