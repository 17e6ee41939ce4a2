# SPDX-License-Identifier: MIT
#
# A scripted IoT Hub twin on mosquitto, for tests/host/twin-*.sh. Source
# it after tests/mqtt/lib.sh. The test plays the hub by hand through the
# broker's plain listener:
#
#   hub_watch PORT        mosquitto_sub on $iothub/twin/GET/# and
#                         $iothub/twin/PATCH/properties/reported/# into
#                         $TMP/hub.sub ("TOPIC PAYLOAD" a line)
#   gets / reports        how many GETs / reported PATCHes came so far
#   wait_gets N           until N GETs came (10 s); rid_of_get N: its $rid
#   wait_reports N        until N reported PATCHes; report_line N: the Nth
#   hub_answer RID STATUS [BODY]    $iothub/twin/res/STATUS/?$rid=RID
#   hub_patch VERSION BODY          a desired PATCH ($version=VERSION)
#   client_start NAME ARGS...       twin-client, stdin from a FIFO,
#                         output $TMP/NAME.out, log $TMP/NAME.err
#   client_say NAME LINE  a command to it ("report {...}", "quit")
#   client_lines NAME WHAT          its "full"/"patch" lines

TWIN_CLIENT=$BUILD/tools/twin-client

hub_watch() {
	: >"$TMP/hub.sub"
	stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$1" -v -i "sub-hub-$$" \
		-t '$iothub/twin/GET/#' \
		-t '$iothub/twin/PATCH/properties/reported/#' \
		>>"$TMP/hub.sub" 2>"$TMP/hub.err" &
	HUB_PID=$!
	PIDS="$PIDS $!"
	HUB_PORT=$1
	# subscribed when a message of ours comes back
	wait_for 10 sh -c "mosquitto_pub -h 127.0.0.1 -p $1 \
		-t '\$iothub/twin/GET/?\$rid=probe' -m probe &&
		grep -q rid=probe '$TMP/hub.sub'"
}

gets() { grep -c '^\$iothub/twin/GET/?\$rid=[0-9a-f-]* ' "$TMP/hub.sub"; }
reports() { grep -c '^\$iothub/twin/PATCH/properties/reported/' "$TMP/hub.sub"; }
gets_ge() { [ "$(gets)" -ge "$1" ]; }
reports_ge() { [ "$(reports)" -ge "$1" ]; }
wait_gets() { wait_for "${2:-10}" gets_ge "$1"; }
wait_reports() { wait_for "${2:-10}" reports_ge "$1"; }
get_line() {
	grep '^\$iothub/twin/GET/?\$rid=[0-9a-f-]* ' "$TMP/hub.sub" |
		sed -n "$1p"
}
rid_of_get() { get_line "$1" | sed 's/^[^=]*=\([^ ]*\) .*/\1/'; }
report_line() {
	grep '^\$iothub/twin/PATCH/properties/reported/' "$TMP/hub.sub" |
		sed -n "$1p"
}
rid_of_report() { report_line "$1" | sed 's/^[^=]*=\([^ ]*\) .*/\1/'; }
body_of_report() { report_line "$1" | cut -d' ' -f2-; }

hub_answer() {
	mosquitto_pub -h 127.0.0.1 -p "$HUB_PORT" -i "hub-$$" \
		-t "\$iothub/twin/res/$2/?\$rid=$1${4:-}" -m "${3:-}"
}
hub_patch() {
	mosquitto_pub -h 127.0.0.1 -p "$HUB_PORT" -i "hub-$$" \
		-t "\$iothub/twin/PATCH/properties/desired/?\$version=$1" -m "$2"
}

client_start() {
	local name=$1
	shift
	rm -f "$TMP/$name.fifo"
	mkfifo -m 600 "$TMP/$name.fifo"
	: >"$TMP/$name.out"
	"$TWIN_CLIENT" "$@" <"$TMP/$name.fifo" >"$TMP/$name.out" \
		2>"$TMP/$name.err" &
	eval "${name}_CPID=$!"
	PIDS="$PIDS $!"
	# hold the FIFO open for writing on fd 8 or 9
	if [ -z "${CLIENT_FD8:-}" ]; then
		exec 8>"$TMP/$name.fifo"
		CLIENT_FD8=$name
	else
		exec 9>"$TMP/$name.fifo"
	fi
}
# (in a subshell: a client gone already must not SIGPIPE the test)
client_say() {
	if [ "${CLIENT_FD8:-}" = "$1" ]; then
		(echo "$2" >&8) 2>/dev/null
	else
		(echo "$2" >&9) 2>/dev/null
	fi
}
# client_stop NAME: "quit", then its exit status in CLIENT_RC
client_stop() {
	local pid
	eval "pid=\${${1}_CPID:-}"
	client_say "$1" quit
	CLIENT_RC=0
	wait "$pid" 2>/dev/null || CLIENT_RC=$?
	pid_forget "$pid"
	if [ "${CLIENT_FD8:-}" = "$1" ]; then
		exec 8>&-
		CLIENT_FD8=
	else
		exec 9>&-
	fi
}
client_lines() { grep "^$2 " "$TMP/$1.out"; }
client_count() { grep -c "^$2 " "$TMP/$1.out"; }
client_count_ge() { [ "$(client_count "$1" "$2")" -ge "$3" ]; }
client_has() { grep -q -- "$2" "$TMP/$1.out"; }
log_has() { grep -q -- "$2" "$TMP/$1.err"; }
# no sanitizer report in NAME's log
clean_log() { ! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$TMP/$1.err"; }
