#!/bin/sh
# conf_doc.sh - prove that strictmx.conf(5) documents exactly the keys of the
# table in smtpd/conf.c, with the same defaults, in both directions (as
# Postfix's release check of undocumented and unimplemented parameters).
#
# usage: conf_doc.sh [CONF_KEYS MAN_PAGE]
#	CONF_KEYS	the built tests/unit/conf_keys program, which prints
#			the table as "key<TAB>default" lines
#	MAN_PAGE	man/strictmx.conf.5
# Without arguments (as `make check` runs it) they come from $CONF_KEYS and
# $TOP_SRCDIR/man/strictmx.conf.5 ($srcdir when TOP_SRCDIR is unset).
#
# From the page it reads the first-level items of the list in the KEYS
# section: each must be ".It Cm key ..." and must hold exactly one line
# "The default is VALUE." or "There is no default." (a required key, which
# the table writes "(required)"), after which the item has no more text.
# Prints every difference and exits 1, or prints "ok" and exits 0.

set -u
LC_ALL=C
export LC_ALL

if [ $# -eq 2 ]; then
	prog=$1
	page=$2
elif [ $# -eq 0 ] && [ -n "${CONF_KEYS:-}" ]; then
	prog=$CONF_KEYS
	page=${TOP_SRCDIR:-${srcdir:-.}}/man/strictmx.conf.5
else
	echo "usage: $0 CONF_KEYS MAN_PAGE (or set CONF_KEYS)" >&2
	exit 2
fi
if [ ! -r "$page" ]; then
	echo "conf_doc: cannot read $page" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/conf_doc.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

if ! "$prog" >"$tmp/code"; then
	echo "conf_doc: $prog failed" >&2
	exit 1
fi

# The page's keys and defaults, as "key<TAB>default"; problems of form go
# to $tmp/form, one a line.
awk -v form="$tmp/form" '
function problem(line, msg) {
	print FILENAME ":" line ": " msg > form
}
# unroff - the few escapes a default may carry, turned back into text.
function unroff(s) {
	gsub(/\\&/, "", s)
	gsub(/\\-/, "-", s)
	gsub(/\\\(dq/, "\"", s)
	gsub(/\\e/, "\\", s)
	return s
}
function flush() {
	if (key == "")
		return
	if (ndef == 0)
		problem(keyline, "item " key " has no \"The default is " \
		    "...\" sentence")
	else if (ndef > 1)
		problem(keyline, "item " key " has " ndef " default sentences")
	else if (after)
		problem(keyline, "item " key ": the default sentence is not " \
		    "its end")
	print key "\t" def
	key = ""
}
/^\.Sh[ \t]/ {
	flush()
	sub(/^\.Sh[ \t]+/, "")
	gsub(/"/, "")
	inkeys = ($0 == "KEYS")
	if (inkeys)
		seen = 1
	depth = 0
	next
}
!inkeys { next }
/^\.\\"/ { next }				# roff comment
/^\.Bl([ \t]|$)/ { depth++; next }
/^\.El([ \t]|$)/ {
	if (depth == 1)
		flush()
	depth--
	next
}
depth == 1 && /^\.It([ \t]|$)/ {
	flush()
	if ($2 != "Cm" || $3 == "") {
		problem(FNR, "item is not \".It Cm key ...\": " $0)
		next
	}
	key = $3; keyline = FNR; def = ""; ndef = 0; after = 0
	next
}
key == "" { next }
/^The default is .*\.$/ {
	def = unroff(substr($0, 16, length($0) - 16))
	ndef++
	after = 0
	next
}
/^There is no default\.$/ {
	def = "(required)"
	ndef++
	after = 0
	next
}
# Any other text after the default sentence: it is not the end.
ndef > 0 && !/^\.(Pp|Ed)([ \t]|$)/ { after = 1 }
END {
	flush()
	if (!seen)
		print "no KEYS section" > form
}
' "$page" >"$tmp/man"

touch "$tmp/form"
status=0
if [ -s "$tmp/form" ]; then
	cat "$tmp/form"
	status=1
fi

# Both directions at once: every key of either list, with both defaults.
awk -F '\t' '
FILENAME == ARGV[1] {
	if (NF != 2 || $1 == "") { print "conf_keys: bad line: " $0; bad = 1; next }
	if ($1 in code) { print "conf_keys: key " $1 " twice"; bad = 1 }
	code[$1] = $2
	order[++n] = $1
	next
}
{
	if ($1 in man) { print "man page: key " $1 " documented twice"; bad = 1 }
	man[$1] = $2
	order[++n] = $1
}
END {
	for (i = 1; i <= n; i++) {
		k = order[i]
		if (k in done)
			continue
		done[k] = 1
		if (!(k in man)) {
			print "undocumented: " k " (default \"" code[k] "\")"
			bad = 1
		} else if (!(k in code)) {
			print "documented but not in conf.c: " k \
			    " (default \"" man[k] "\")"
			bad = 1
		} else if (code[k] != man[k]) {
			print "default of " k ": conf.c \"" code[k] \
			    "\", man page \"" man[k] "\""
			bad = 1
		}
	}
	if (n == 0) {
		print "no keys at all"
		bad = 1
	}
	exit bad
}
' "$tmp/code" "$tmp/man" || status=1

if [ $status -eq 0 ]; then
	echo ok
fi
exit $status
