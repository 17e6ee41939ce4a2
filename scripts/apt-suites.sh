#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The project's own apt configuration: the machine's Debian sources (same
# URIs, same keyrings, read from /etc/apt at run time, so no host name is
# written into the tree) for other suites besides the machine's own, with
# lists and package cache under build/apt. Nothing is installed into the
# host: callers run `apt-get download` and `dpkg -x` with it.
#
# usage: apt-suites.sh [--suites "bullseye bookworm trixie"] [--update|--no-update]
#                      [--lines SUITE]
#   (default)        write build/apt (if needed), refresh its lists when they
#                    are missing or older than a day, print APT_CONFIG=FILE
#   --update         refresh the lists now
#   --no-update      never refresh (print APT_CONFIG= even without lists)
#   --lines SUITE    print one-line "deb [signed-by=K] URI SUITE[-x] main"
#                    entries for SUITE (e.g. for mmdebstrap); nothing else
#
#   eval "$(scripts/apt-suites.sh)"; export APT_CONFIG
#   apt-get download linux-image-amd64/bullseye
#
# Each suite comes with its -updates and -security siblings where the
# machine has them for its own suite. The machine's apt.conf.d settings
# (proxy, retries, ...) still apply: only the source list, lists, cache and
# status are redirected. BUILD (default build) moves the directory.
set -euo pipefail

die() { echo "apt-suites: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
. "$top/scripts/lib-cache.sh"
dir=$(iotsec_cache "$top")/apt
suites="bullseye bookworm trixie"
update=auto
lines=
while [ $# -gt 0 ]; do
	case "$1" in
	--suites) suites=$2; shift 2 ;;
	--update) update=yes; shift ;;
	--no-update) update=no; shift ;;
	--lines) lines=$2; shift 2 ;;
	-h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1" ;;
	esac
done

# The machine's own codename: its sources name suites after it.
host_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$host_codename" ] || die "no VERSION_CODENAME in /etc/os-release"

# Every enabled Debian source of the machine as "URI SUFFIX KEYRING COMPONENTS",
# where SUFFIX is what follows the codename in the suite ("", -updates,
# -security). Sources for other suites (third-party repositories) are left out.
machine_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v cn="$host_codename" '
		/^[ \t]*deb[ \t]/ {
			key = "-"; i = 2
			if ($2 ~ /^\[/) {
				opts = ""
				for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } }
				if (match(opts, /signed-by=[^] ]+/))
					key = substr(opts, RSTART + 10, RLENGTH - 10)
			}
			uri = $i; suite = $(i + 1); comps = ""
			for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : ",") $j
			if (suite == cn || index(suite, cn "-") == 1)
				print uri, substr(suite, length(cn) + 1) == "" ? "=" : substr(suite, length(cn) + 1), key, comps
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v cn="$host_codename" '
		function flush(   n, s, u, k, a, b) {
			if (types ~ /(^| )deb( |$)/ && enabled != "no") {
				n = split(suites, s, " "); split(uris, u, " ")
				comps_c = comps; gsub(/ +/, ",", comps_c)
				for (k = 1; k <= n; k++)
					if (s[k] == cn || index(s[k], cn "-") == 1)
						for (a in u)
							print u[a], substr(s[k], length(cn) + 1) == "" ? "=" : substr(s[k], length(cn) + 1), (key == "" ? "-" : key), comps_c
			}
			types = suites = uris = comps = key = enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		{
			line = $0; field = tolower(line); sub(/:.*/, "", field)
			val = line; sub(/^[^:]*:[ \t]*/, "", val)
			if (field == "types") types = val
			else if (field == "suites") suites = val
			else if (field == "uris") uris = val
			else if (field == "components") comps = val
			else if (field == "signed-by") key = val
			else if (field == "enabled") enabled = tolower(val)
		}
		END { flush() }' "$f"
	done
}

srcs=$(machine_sources | sort -u)
[ -n "$srcs" ] || die "no Debian $host_codename source in /etc/apt to derive from"

if [ -n "$lines" ]; then
	while read -r uri suffix key comps; do
		[ "$suffix" = "=" ] && suffix=
		opt=
		[ "$key" = "-" ] || opt="[signed-by=$key] "
		echo "deb ${opt}$uri $lines$suffix ${comps//,/ }"
	done <<<"$srcs"
	exit 0
fi

mkdir -p "$dir"/{lists/partial,archives/partial,sources,preferences}
sources=$dir/sources/project.sources
# The architectures the lists cover: amd64 for every suite, arm64 and armhf
# for the ARM kernels (scripts/kernel-pkgs.sh SUITE ARCH) of the suites in
# arm_suites (bullseye-security has no armhf any more).
archs="amd64 arm64 armhf"
arm_suites="bookworm trixie"
stanza() { # URI SUITES KEY COMPONENTS ARCHITECTURES
	echo
	echo "Types: deb"
	echo "URIs: $1"
	echo "Suites:$2"
	echo "Components: ${4//,/ }"
	[ "$3" = "-" ] || echo "Signed-By: $3"
	echo "Architectures: $5"
}
new=$(
	echo "# Generated by scripts/apt-suites.sh from /etc/apt; do not edit."
	while read -r uri suffix key comps; do
		[ "$suffix" = "=" ] && suffix=
		s= a=
		for suite in $suites; do
			case " $arm_suites " in
			*" $suite "*) a="$a $suite$suffix" ;;
			*) s="$s $suite$suffix" ;;
			esac
		done
		[ -z "$s" ] || stanza "$uri" "$s" "$key" "$comps" amd64
		[ -z "$a" ] || stanza "$uri" "$a" "$key" "$comps" "$archs"
	done <<<"$srcs"
)
if [ "$new" != "$(cat "$sources" 2>/dev/null)" ]; then
	echo "$new" >"$sources"
	rm -f "$dir/lists/.stamp"
fi
: >"$dir/status"
conf=$dir/apt.conf
cat >"$conf.tmp" <<EOF
// Generated by scripts/apt-suites.sh; do not edit.
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$dir/sources";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "$dir/preferences";
Dir::State::Lists "$dir/lists";
Dir::State::status "$dir/status";
Dir::Cache "$dir/cache";
Dir::Cache::Archives "$dir/archives";
APT::Architecture "amd64";
APT::Architectures { $(for a in $archs; do printf '"%s"; ' "$a"; done)};
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
mv "$conf.tmp" "$conf"
mkdir -p "$dir/cache"

fresh() {
	[ -f "$dir/lists/.stamp" ] &&
		[ -z "$(find "$dir/lists/.stamp" -mmin +1440 2>/dev/null)" ]
}
if [ $update = yes ] || { [ $update = auto ] && ! fresh; }; then
	# A lock of our own: two callers at once would share the lists.
	exec 9>"$dir/.lock"
	flock 9
	if [ $update = yes ] || ! fresh; then
		APT_CONFIG=$conf apt-get -q update -o Dir::State::Lists::Lock="$dir/lists/lock" \
			-o Debug::NoLocking=true >"$dir/update.log" 2>&1 ||
			{ cat "$dir/update.log" >&2; die "apt-get update failed"; }
		grep -E '^(W|E):' "$dir/update.log" >&2 || true
		touch "$dir/lists/.stamp"
	fi
	exec 9>&-
fi
echo "APT_CONFIG=$conf"
