#!/bin/sh
# build_deps_check.sh - build-deps.sh (the README's first command) holds
# what building needs and nothing that replaces the machine's MTA or only
# serves the tests (issue 11.1). Run from a build tree after `make`:
#   every /usr header the compiler read (the .deps files) belongs to a
#   package in the dependency closure of build-deps.sh's list;
#   that closure holds no MTA (mail-transport-agent providers) and none of
#   the test tools tests/install-deps.sh adds.
# Exit 0 pass, 1 fail, 77 without dpkg/apt-cache or a built tree.
set -u
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
fail=0 n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; }
for t in dpkg apt-cache; do
	command -v $t >/dev/null 2>&1 || { echo "build_deps_check: no $t, skipped"; exit 77; }
done
set -- smtpd/.deps/*.Po
[ -f "$1" ] || { echo "build_deps_check: run from a built tree, skipped"; exit 77; }
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT

list=$(sed -n '/^PKGS="/,/"$/p' "$top/build-deps.sh" | tr -d '"' | sed 's/^PKGS=//')
[ -n "$list" ] || { bad "no PKGS list in build-deps.sh"; echo "1..$n"; exit 1; }
# shellcheck disable=SC2086
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $list 2>/dev/null |
    grep -v '^ ' | tr -d '<>' | sort -u >"$tmp/closure"
cat smtpd/.deps/*.Po | tr ' \\' '\n\n' | sed 's/:$//' | grep '^/usr/' |
    sort -u >"$tmp/headers"
# shellcheck disable=SC2046
xargs dpkg -S <"$tmp/headers" 2>/dev/null | cut -d: -f1 | tr ',' '\n' |
    tr -d ' ' | sort -u >"$tmp/owners"
missing=$(comm -23 "$tmp/owners" "$tmp/closure" | tr '\n' ' ')
if [ -s "$tmp/owners" ] && [ -z "$missing" ]; then
	ok "the $(wc -l <"$tmp/headers") headers compiled against come from $(tr '\n' ' ' <"$tmp/owners")"
else bad "headers from packages outside build-deps.sh: $missing"; fi

mtas=$(apt-cache showpkg mail-transport-agent 2>/dev/null |
    sed -n '/^Reverse Provides:/,$p' | sed 1d | cut -d' ' -f1 | sort -u)
hit=
for p in $mtas postfix exim4-daemon-light opensmtpd check swaks dnsmasq-base \
    python3-pytest clang fail2ban opendkim dovecot-imapd; do
	grep -qx "$p" "$tmp/closure" && hit="$hit $p"
done
if [ -z "$hit" ] && [ -n "$mtas" ]; then
	ok "no MTA ($(echo $mtas | wc -w) providers of mail-transport-agent) and no test tool among $(wc -l <"$tmp/closure") packages"
else bad "build-deps.sh pulls in:$hit (MTAs known: $(echo $mtas | wc -w))"; fi
echo "1..$n"
[ $fail -eq 0 ]
