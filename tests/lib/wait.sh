# SPDX-License-Identifier: MIT
#
# wait_for SECONDS CMD...: run CMD (its output discarded) every WAIT_POLL
# seconds (default 0.2) until it succeeds; status 1 when SECONDS pass
# first. A deadline, never a fixed sleep. Source it (bash).

wait_for() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep "${WAIT_POLL:-0.2}"
	done
}
