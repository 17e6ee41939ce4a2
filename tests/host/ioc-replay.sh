#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Executable hashes, indicator lists and the package inventory in iotsecd,
# end to end through the replay path: a recording of events about live
# processes (tests/tools/rec-events) replayed with indicator files.
#
#   cp /bin/sleep $tmp/listed &   (its SHA-256 in hashes.txt)
#   rec-events: exec of it, connect to 203.0.113.9 (in 203.0.113.0/24),
#               exec of an unlisted copy, connect to 198.51.100.1
#        --> iotsecd --replay FILE --output --> alerts, Sha256, schemas
#   the recording on a pipe (iotsecd --replay -), packages: a dpkg and an
#   opkg status file --> PackageInventory events
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
bin=$build
[ -x "$build/san/iotsecd" ] && bin=$build/san
. "$top/tests/lib/schemas.sh"
. "$top/tests/lib/tap.sh"
tmp=$(mktemp -d /tmp/iotsec-ioc.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "TAP version 13"
echo "1..12"

# two live processes: a listed binary and an unlisted one (another file)
cp /bin/sleep "$tmp/listed"
cp /bin/sleep "$tmp/clean"
printf '\n' >>"$tmp/clean"
"$tmp/listed" 600 & pids="$pids $!"; listed_pid=$!
"$tmp/clean" 600 & pids="$pids $!"; clean_pid=$!
for p in $listed_pid $clean_pid; do
	for _ in $(seq 100); do
		case $(readlink "/proc/$p/exe") in "$tmp"/*) break;; esac
		sleep 0.05
	done
done
listed_sha=$(sha256sum "$tmp/listed" | cut -c1-64)
clean_sha=$(sha256sum "$tmp/clean" | cut -c1-64)

cat >"$tmp/hashes.txt" <<EOH
# known bad
$listed_sha
not-a-hash
EOH
printf '203.0.113.0/24  # test net 3\n2001:db8::/32\n' >"$tmp/addresses.txt"

conf() {	# conf NAME HASHES_ENABLED INDICATOR-LINES...
	local name=$1 en=$2
	shift 2
	{
		cat <<-EOC
		agent:
		  id: 9c647395-b913-4997-a732-a7fe7303b649
		messages:
		  statistics: 1h
		events:
		  exec:
		    aggregate: false
		rules:
		  enabled: false
		hashes:
		  enabled: $en
		indicators:
		EOC
		for l in "$@"; do echo "  $l"; done
	} >"$tmp/$name.yaml"
}
conf ioc true "hashes: $tmp/hashes.txt" "addresses: $tmp/addresses.txt"
conf plain false "hashes: \"\""

rec=$build/tests/tools/rec-events
"$rec" "$tmp/bad.rec" "exec,$listed_pid,$tmp/listed" \
	"connect,$listed_pid,$tmp/listed,203.0.113.9,443"
true & dead_pid=$!
wait $dead_pid
sleep 0.1	# the files' ctimes well before the execs (hash.h)
"$rec" "$tmp/clean.rec" "exec,$clean_pid,$tmp/clean" \
	"connect,$clean_pid,$tmp/clean,198.51.100.1,443" \
	"exec,$clean_pid,$tmp/gone-by-now" "exec,$dead_pid,$tmp/clean"
run() {	# run CONF REC OUT
	"$bin/iotsecd" -c "$tmp/$1.yaml" --replay "$tmp/$2.rec" \
		--output "$tmp/$3.jsonl" --stats-file "" 2>"$tmp/$3.log" ||
		{ echo "# iotsecd $1 $2: exit status $?: $(tail -n 1 "$tmp/$3.log")"; : >>"$tmp/$3.jsonl"; }
}
run ioc bad bad
run ioc clean clean
run plain bad plain

# RuleName HitCount TriggeringEvent.Name per alert; Sha256(Status) per ProcessCreate
cat >"$tmp/sum.py" <<'EOP'
import json, sys
for line in open(sys.argv[1]):
    for e in json.loads(line)["Events"]:
        for p in e["Payload"]:
            if e["Name"] == "RuleAlert":
                print("alert", p["RuleName"], p["HitCount"],
                      p["TriggeringEvent"]["Name"], p["Description"])
            elif e["Name"] == "ProcessCreate":
                x = p.get("ExtraDetails", {})
                print("exec", p["Executable"], x.get("Sha256", "-"),
                      x.get("Sha256Status", "-"))
EOP
for o in bad clean plain; do python3 "$tmp/sum.py" "$tmp/$o.jsonl" >"$tmp/$o.sum"; done

check "an exec of a listed hash alerts ioc:hash (Critical, the file:line)" \
	grep -q "^alert ioc:hash 1 ProcessCreate SHA-256 $listed_sha of $tmp/listed is listed in $tmp/hashes.txt:2\$" "$tmp/bad.sum"
check "a connect to a listed CIDR alerts ioc:address" \
	grep -q "^alert ioc:address 1 ConnectionCreate remote address 203.0.113.9 is listed in $tmp/addresses.txt:1\$" "$tmp/bad.sum"
check "ProcessCreate carries the executable's SHA-256 (hashes.enabled)" \
	grep -q "^exec $tmp/listed $listed_sha -\$" "$tmp/bad.sum"
check "the malformed indicator line is reported as file:line and skipped" \
	grep -q "indicators: $tmp/hashes.txt:3: expected a SHA-256 digest (64 hex digits), got 'not-a-hash'" "$tmp/bad.log"
check "a clean workload (its execs and connect in the output) alerts nothing" \
	sh -c "[ \$(grep -c '^exec' '$tmp/clean.sum') = 3 ] && ! grep -q '^alert' '$tmp/clean.sum'"
check "clean: its own hash, live or gone (by its path), and none for a file neither runs nor exists (process-gone)" \
	sh -c "[ \$(grep -c '^exec $tmp/clean $clean_sha -\$' '$tmp/clean.sum') = 2 ] &&
	       grep -q '^exec $tmp/gone-by-now - process-gone\$' '$tmp/clean.sum'"
check "hashes and indicators off: no alert, no Sha256" \
	sh -c "! grep -q '^alert' '$tmp/plain.sum' && grep -q '^exec $tmp/listed - -\$' '$tmp/plain.sum'"

# a short-lived process whose binary is replaced (renamed onto its path)
# after its exec, before the hashing: not the digest of the new file
cp /bin/true "$tmp/swapped"
cp /bin/false "$tmp/swapped.new"
sleep 0.1
"$tmp/swapped" & swapped_pid=$!
wait $swapped_pid
"$rec" "$tmp/swap.rec" "exec,$swapped_pid,$tmp/swapped"
sleep 0.1
mv "$tmp/swapped.new" "$tmp/swapped"
run ioc swap swap
python3 "$tmp/sum.py" "$tmp/swap.jsonl" >"$tmp/swap.sum"
check "a gone process whose binary was replaced after its exec: no digest, Sha256Status unverified (was the new file's)" \
	grep -q "^exec $tmp/swapped - unverified\$" "$tmp/swap.sum"
[ -s "$tmp/swap.sum" ] && echo "# $(cat "$tmp/swap.sum")"

# a flood of execs in one batch: the hasher's queue (256 jobs) fills up;
# each ProcessCreate still carries its Sha256 or the reason it has none
flood=
for _ in $(seq 300); do flood="$flood exec,$clean_pid,$tmp/clean"; done
# shellcheck disable=SC2086
"$rec" "$tmp/flood.rec" $flood
run ioc flood flood
python3 "$tmp/sum.py" "$tmp/flood.jsonl" >"$tmp/flood.sum"
n_exec=$(grep -c '^exec' "$tmp/flood.sum" || true)
n_sha=$(grep -c "^exec $tmp/clean $clean_sha -\$" "$tmp/flood.sum" || true)
n_full=$(grep -c "^exec $tmp/clean - queue-full\$" "$tmp/flood.sum" || true)
n_none=$(grep -c '^exec .* - -$' "$tmp/flood.sum" || true)
msg="300 execs at once: every ProcessCreate has a Sha256 or a Sha256Status (queue-full past the 256 queued)"
if [ "$n_exec" = 300 ] && [ "$n_none" = 0 ] && [ "$n_full" -ge 1 ] &&
   [ "$n_sha" -ge 1 ]; then
	ok "$msg"
else
	notok "$msg: $n_exec ProcessCreate, $n_sha with Sha256, $n_full queue-full, $n_none with neither"
fi

# the package inventory: the recording on a pipe, the local sources run
cat >"$tmp/dpkg-status" <<'EOS'
Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4
Description: GNU C Library
 continuation

Package: purged
Status: deinstall ok config-files
Architecture: amd64
Version: 1

Package: openssh-server
Status: install ok installed
Architecture: amd64
Version: 1:9.2p1-2
EOS
cat >"$tmp/opkg-status" <<'EOS'
Package: busybox
Version: 1.36.1-r0
Status: install user installed
Architecture: cortexa7t2hf-neon-vfpv4

Package: dropbear
Version: 2022.83-r0
Status: install ok installed
Architecture: cortexa7t2hf-neon-vfpv4
EOS
{
	cat "$tmp/ioc.yaml"
	cat <<-EOC
	sdk:
	  enabled: false
	logins:
	  enabled: false
	snapshots:
	  first_delay: 0s
	  listening_ports: false
	  local_users: false
	  system_information: false
	  os_baseline: false
	packages:
	  dpkg_status: $tmp/dpkg-status
	  opkg_status: $tmp/opkg-status
	EOC
} >"$tmp/pkg.yaml"
cat "$tmp/bad.rec" | "$bin/iotsecd" -c "$tmp/pkg.yaml" --replay - \
	--output "$tmp/pkg.jsonl" --stats-file "" 2>"$tmp/pkg.log" ||
	{ echo "# iotsecd pkg: exit status $?: $(tail -n 1 "$tmp/pkg.log")"; : >>"$tmp/pkg.jsonl"; }
got=$(python3 - "$tmp/pkg.jsonl" <<'EOP'
import json, sys
out = []
for line in open(sys.argv[1]):
    for e in json.loads(line)["Events"]:
        if e["Name"] == "PackageInventory":
            out += ["%s=%s/%s/%s" % (p["Name"], p["Version"], p["Architecture"], p["Source"]) for p in e["Payload"]]
print(" ".join(out))
EOP
)
want="busybox=1.36.1-r0/cortexa7t2hf-neon-vfpv4/opkg dropbear=2022.83-r0/cortexa7t2hf-neon-vfpv4/opkg libc6=2.36-9+deb12u4/amd64/dpkg openssh-server=1:9.2p1-2/amd64/dpkg"
if [ "$got" = "$want" ]; then
	ok "PackageInventory lists the dpkg and opkg packages installed"
else
	notok "PackageInventory: '$got'"
fi

# SIGHUP reads the lists again: the same connect, before and after the
# address joins the list (the recording on a FIFO the test holds open)
printf '203.0.113.0/24\n' >"$tmp/addresses.txt"
"$rec" "$tmp/c1.rec" "connect,$clean_pid,$tmp/clean,192.0.2.5,443"
"$rec" "$tmp/c2.rec" "connect,$clean_pid,$tmp/clean,192.0.2.5,443"
mkfifo "$tmp/fifo"
"$bin/iotsecd" -f -c "$tmp/ioc.yaml" --replay - --output "$tmp/hup.jsonl" \
	--stats-file "$tmp/hup.stats" <"$tmp/fifo" 2>"$tmp/hup.log" & hup_pid=$!
exec 3>"$tmp/fifo"
cat "$tmp/c1.rec" >&3
wait_log() {	# wait_log PATTERN FILE: up to 10 s
	for _ in $(seq 200); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
# the first batch decoded (the stats file, written every second)
wait_log '"batches": *1' "$tmp/hup.stats" ||
	echo "# the first batch not seen in the stats: $(cat "$tmp/hup.stats" 2>&1 | head -c 300)"
printf '203.0.113.0/24\n192.0.2.0/24\n' >"$tmp/addresses.txt"
# a setting of the lists changed too: still one load of them per SIGHUP
echo "  refresh: 1h" >>"$tmp/ioc.yaml"
kill -HUP $hup_pid
wait_log "indicators: 1 hashes, 2 addresses" "$tmp/hup.log" || true
tail -c +25 "$tmp/c2.rec" >&3	# the batch, without the file header
exec 3>&-
wait $hup_pid || true
n_alerts=$(grep -o '"RuleName":"ioc:address"' "$tmp/hup.jsonl" 2>/dev/null | wc -l)
n_conn=$(grep -o '"RemoteAddress":"192.0.2.5"' "$tmp/hup.jsonl" 2>/dev/null | wc -l)
# two ConnectionCreate (one aggregated record counts once) or one with
# its alert's TriggeringEvent: one alert, for the connect after the reload
n_loads=$(grep -c "indicators: 1 hashes, 2 addresses" "$tmp/hup.log")
if [ "$n_alerts" = 1 ] && [ "$n_conn" -ge 2 ] && [ "$n_loads" = 1 ]; then
	ok "SIGHUP reloads the lists once: the connect after it alerts, the one before did not"
else
	notok "after SIGHUP: $n_loads loads of the lists, $n_alerts ioc:address alerts, $n_conn mentions of 192.0.2.5; $(tr '\n' ' ' <"$tmp/hup.log")"
fi

if ! azure_schemas "$top"; then
	ok "# SKIP $AZURE_SCHEMAS_MISSING"
else
	export NODE_PATH=$build/node/node_modules
	if res=$(node "$top/tests/lib/validate-messages.js" "$AZURE_SCHEMAS" \
		"$top/schemas/iotsec-extended-message_v1_0.json" \
		"$tmp/bad.jsonl" "$tmp/clean.jsonl" "$tmp/pkg.jsonl" \
		"$tmp/flood.jsonl" "$tmp/swap.jsonl" 2>&1); then
		ok "every message validates (ProcessCreate with Sha256, ioc: alerts, PackageInventory): $res"
	else
		notok "schema: $(echo "$res" | tail -n 3 | cut -c1-600)"
	fi
fi
[ "$failed" = 0 ]
