#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The man pages (man/iotsecd.8, man/iotsecctl.8, man/iotsecd.yaml.5):
#
#   each page: SPDX line first, .TH name and section match the file name
#     (and the section is one mk/install.mk's man/*.[1-8] installs)
#   each page renders without warnings (groff -man -ww -z, man --warnings)
#   every option iotsecd and iotsecctl accept (their --help and the
#     option tables in forwarder/daemon/iotsecd.c and cli/iotsecctl.c) and every
#     iotsecctl command is in its page
#   every top-level section and every key forwarder/daemon/config.c accepts, and
#     every event type of events:, is in iotsecd.yaml(5)
#   the examples in iotsecd.yaml(5) pass iotsecd --check-config
#
# So a page that falls behind the code fails here.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
bin=$build
[ -x "$bin/iotsecd" ] && [ -x "$bin/iotsecctl" ] || bin=$build/san

. "$top/tests/lib/tap.sh"
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

tmp=$(mktemp -d /tmp/iotsec-man.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "TAP version 13"

pages="iotsecd.8 iotsecctl.8 iotsecd.yaml.5"

# The page's source with roff escapes taken out: \- is -, no font changes.
plain() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' \
	    -e 's/\\(aq/'"'"'/g' -e 's/\\c$//' -e 's/\\&//g' "$top/man/$1"
}

head_ok() {
	local p=$1 f=$top/man/$1 th name sec
	[ -f "$f" ] || { echo "# $f: missing"; return 1; }
	[ "$(head -n 1 "$f")" = '.\" SPDX-License-Identifier: MIT' ] ||
		{ echo "# $p: first line is not the SPDX comment"; return 1; }
	th=$(grep -m1 '^\.TH ' "$f") || { echo "# $p: no .TH"; return 1; }
	set -- $th
	name=${p%.*} sec=${p##*.}
	[ "$2" = "$(echo "$name" | tr a-z A-Z)" ] && [ "$3" = "$sec" ] ||
		{ echo "# $p: .TH says '$2 $3'"; return 1; }
	case $p in *.[1-8]) ;; *) echo "# $p: not matched by man/*.[1-8]"; return 1 ;; esac
}

groff_ok() {
	local out
	out=$(groff -man -ww -z "$top/man/$1" 2>&1) && [ -z "$out" ] ||
		{ echo "$out" | sed 's/^/# /'; return 1; }
}

man_ok() {
	local out
	out=$(MANWIDTH=80 man --warnings -l "$top/man/$1" 2>&1 >/dev/null) &&
		[ -z "$out" ] || { echo "$out" | sed 's/^/# /'; return 1; }
}

for p in $pages; do
	check "$p: SPDX line, .TH matches the file name and section" head_ok "$p"
	if command -v groff >/dev/null; then
		check "$p: groff -man -ww renders it without warnings" groff_ok "$p"
	else
		skip "$p: groff not installed (scripts/install-deps.sh)"
	fi
	if command -v man >/dev/null; then
		check "$p: man --warnings renders it without warnings" man_ok "$p"
	else
		skip "$p: man not installed (scripts/install-deps.sh)"
	fi
done

# WORDS (one a line) all in PAGE's plain text, as whole words.
all_in() {
	local page=$1 words=$2 w missing=
	[ -n "$words" ] || { echo "# nothing to look for"; return 1; }
	plain "$page" >"$tmp/plain"
	for w in $words; do
		grep -qE -- "(^|[^-a-z_])$w([^-a-z_]|\$)" "$tmp/plain" || missing="$missing $w"
	done
	[ -z "$missing" ] || { echo "# not in $page:$missing"; return 1; }
}

# ---- iotsecd(8) ----
src=$top/forwarder/daemon/iotsecd.c
opts=$(sed -n '/struct option opts\[\]/,/NULL, 0, NULL, 0/p' "$src" |
	grep -oE '\{ "[a-z-]+"' | sed 's/{ "/--/; s/"//')
shorts=$(grep -oE 'getopt_long\(argc, argv, "[^"]*"' "$src" | sed 's/.*"\(.*\)"/\1/' |
	tr -d ':' | sed 's/./-& /g')
check "iotsecd.c: option table and getopt string found ($(echo $opts | wc -w) long)" \
	test -n "$opts" -a -n "$shorts"
if [ -x "$bin/iotsecd" ]; then
	help=$("$bin/iotsecd" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u)
	check "iotsecd --help lists options" test -n "$help"
else
	help=
	skip "iotsecd --help: $bin/iotsecd not built"
fi
check "iotsecd.8 has every long option (--help and the table)" \
	all_in iotsecd.8 "$(printf '%s\n' $opts $help | sort -u)"
check "iotsecd.8 has every short option ($(echo $shorts))" all_in iotsecd.8 "$shorts"
check "iotsecd.8 has signals, files, exit status" all_in iotsecd.8 \
	"SIGHUP SIGTERM /etc/iotsec/iotsecd.yaml /run/iotsec/iotsecd.json /run/iotsec/sdk.sock EXIT"
# iotsecd's and iotsecctl's sources: not the SDK's client library (sdk/)
envs=$(find "$top/forwarder" -mindepth 2 -name '*.c' -not -path '*/forwarder/sdk/*' \
	-exec grep -ohE 'getenv\("[A-Z_]+"\)' {} + | sed 's/getenv("\(.*\)")/\1/' | sort -u)
envs_documented() {
	if [ -n "$envs" ]; then
		all_in iotsecd.8 "$envs"
	else	# none read: the page must not promise any
		plain iotsecd.8 | grep -q 'reads no environment variables'
	fi
}
check "iotsecd.8 has every environment variable the forwarder reads" envs_documented

# ---- iotsecctl(8) ----
src=$top/forwarder/cli/iotsecctl.c
copts=$(grep -oE 'strcmp\(argv\[[^]]*\], "--[a-z-]+"\)' "$src" | grep -oE -- '--[a-z-]+' | sort -u)
cmds=$(grep -oE 'strcmp\(cmd, "[a-z]+"\)' "$src" | sed 's/.*"\(.*\)".*/\1/' | sort -u)
check "iotsecctl.c: options and commands found ($(echo $copts) / $(echo $cmds))" \
	test -n "$copts" -a -n "$cmds"
if [ -x "$bin/iotsecctl" ]; then
	help=$("$bin/iotsecctl" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | grep -vx -- --help | sort -u)
	check "iotsecctl --help lists options" test -n "$help"
else
	help=
	skip "iotsecctl --help: $bin/iotsecctl not built"
fi
check "iotsecctl.8 has every option (usage and the parser)" \
	all_in iotsecctl.8 "$(printf '%s\n' $copts $help | sort -u)"
check "iotsecctl.8 has every command" all_in iotsecctl.8 "$cmds"

# ---- iotsecd.yaml(5) ----
src=$top/forwarder/daemon/config.c
# the keys of root_keys[], the table of the top level
top_keys=$(sed -n '/^static const struct key root_keys/,/^};/p' "$src" |
	grep -oE '\{ "[a-z_]+"' | tr -d '{" ' | sort -u)
check "config.c: top-level keys found ($(echo $top_keys))" test -n "$top_keys"
sections_ok() {
	local k missing=
	for k in $top_keys; do
		grep -qx "\.SS $k" "$top/man/iotsecd.yaml.5" || missing="$missing $k"
	done
	[ -z "$missing" ] || { echo "# no .SS section for:$missing"; return 1; }
}
check "iotsecd.yaml.5 has a section for every top-level key" sections_ok
# every entry of the key tables: { "name", getter, ... }
keys=$(grep -oE '^	\{ "[a-z_]+", ' "$src" | tr -d '{", \t' | sort -u)
keys_ok() {
	local k missing=
	plain iotsecd.yaml.5 >"$tmp/plain"
	for k in $keys; do
		grep -qE "(^|[^a-z_])$k:" "$tmp/plain" || missing="$missing $k"
	done
	[ -z "$missing" ] || { echo "# no '<key>:' for:$missing"; return 1; }
}
check "iotsecd.yaml.5 documents every key config.c accepts ($(echo $keys | wc -w))" keys_ok
# the list in the "unknown key ... in events" error
types=$(sed -n '/^static const struct section events_sec/,/^};/p' "$src" |
	sed -n '/other_keys/,$p' | grep -oE '"[^"]*"' | tr -d '",' |
	tr ' ' '\n' | grep . | sort -u)
check "iotsecd.yaml.5 has every event type ($(echo $types))" \
	all_in iotsecd.yaml.5 "${types:-none-found}"

ex=0
for start in '^\.SH EXAMPLE' '^A broker with TLS'; do
	ex=$((ex + 1))
	plain iotsecd.yaml.5 | awk -v s="$start" \
		'$0 ~ s {f = 1; next} f && /^\.EX/ {g = 1; next} g && /^\.EE/ {exit} g' \
		>"$tmp/example$ex.yaml"
done
examples_ok() {
	local f
	for f in "$tmp"/example*.yaml; do
		[ -s "$f" ] || { echo "# $f: example not found"; return 1; }
		# --check-config loads the TLS files: the device's CA is not
		# here, one from scripts/gen-certs.sh stands in for it
		if grep -q 'ca_file: /etc/iotsec/ca.pem' "$f" &&
		   [ ! -e /etc/iotsec/ca.pem ]; then
			[ -e "$tmp/certs/ca.pem" ] ||
				"$top/scripts/gen-certs.sh" "$tmp/certs" dev1 \
					>/dev/null 2>&1 || return 1
			sed -i "s|ca_file: /etc/iotsec/ca.pem|ca_file: $tmp/certs/ca.pem|" "$f"
		fi
		"$bin/iotsecd" --check-config "$f" 2>&1 | sed 's/^/# /'
		"$bin/iotsecd" --check-config "$f" >/dev/null 2>&1 || return 1
	done
}
if [ -x "$bin/iotsecd" ]; then
	check "the examples in iotsecd.yaml.5 pass iotsecd --check-config" examples_ok
else
	skip "iotsecd --check-config: $bin/iotsecd not built"
fi

echo "1..$n"
exit $((failed > 0))
