# SPDX-License-Identifier: MIT
#
# TAP for the tests that number their cases themselves (source it; bash;
# tests/lib/broker.sh has its own for the tests built on it):
#
#   ok TEXT          case n passed
#   notok TEXT       case n failed (counted in failed)
#   check NAME CMD...   ok NAME or notok NAME by CMD's status
#   skip_all N WHY   cases 1..N, each skipped for WHY, and exit 0

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $*"; }
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else notok "$name"; fi
}

skip_all() {
	local i
	for i in $(seq "$1"); do
		echo "ok $i $(basename "$0" .sh) # SKIP $2"
	done
	exit 0
}
