#!/bin/sh
# conf_check.sh - every shipped config passes `strictmxd -n`, a broken one
# fails with file:line, and every man page renders without a groff or mandoc warning.
set -u
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${STRICTMXD:-$top/smtpd/strictmxd}
fail=0 n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; }

tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/mail" "$tmp/db"
# strictmxd -n also proves maildir_root and stats_db's directory writable
# by `user` (startup_check.sh tests that): each shipped config is checked
# with those pointing into $tmp, its relative tables kept, `user` dropped.
for f in "$top"/conf/*.conf; do
	sed -e "s|^recipients[[:space:]]*\([^/[:space:]].*\)|recipients $top/conf/\1|" \
	    -e "s|^dmp_table[[:space:]]*\([^/[:space:]].*\)|dmp_table $top/conf/\1|" \
	    -e "s|^maildir_root.*|maildir_root $tmp/mail|" \
	    -e "s|^stats_db.*|stats_db $tmp/db/stats.db|" \
	    -e "/^user[[:space:]]/d" "$f" >"$tmp/shipped.conf"
	if out=$("$bin" -n -f "$tmp/shipped.conf" 2>&1); then ok "strictmxd -n $f"
	else bad "strictmxd -n $f: $out"; fi
done

printf 'domains example.org\nrecipients %s/conf/recipients\nmax_errors lots\nbogus_key 1\n' \
	"$top" >"$tmp/broken.conf"
out=$("$bin" -n -f "$tmp/broken.conf" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "broken.conf:3:" &&
    echo "$out" | grep -q "broken.conf:4:"; then ok "broken config: exit 1, file:line for each error"
else bad "broken config: rc=$rc out=$out"; fi

for m in "$top"/man/*.[0-9]; do
	w=$(groff -mandoc -ww -z "$m" 2>&1)
	if [ -z "$w" ]; then ok "groff -ww $m"; else bad "groff -ww $m: $w"; fi
	# mandoc's lint at level warning (its style notes, such as manuals
	# missing from this machine's mandoc.db, are not defects of the page).
	if ! command -v mandoc >/dev/null; then bad "mandoc -Tlint $m: mandoc is not installed"
	elif w=$(mandoc -Tlint -W warning "$m" 2>&1) && [ -z "$w" ]; then ok "mandoc -Tlint $m"
	else bad "mandoc -Tlint $m: $w"; fi
	# Neither linter sees prose: a paragraph of the rendered page whose
	# parentheses do not balance (a .Pq beside a literal ")").
	if command -v mandoc >/dev/null && w=$(mandoc -Tascii "$m" | sed "s/.\x08//g" |
	    awk 'BEGIN { RS = "" } { o = gsub(/\(/, "("); c = gsub(/\)/, ")")
	    if (o != c) print substr($0, 1, 200) }') && [ -z "$w" ]; then
		ok "balanced parentheses in $m"
	else bad "unbalanced parentheses in $m: $w"; fi
done
echo "1..$n"
[ $fail -eq 0 ]
