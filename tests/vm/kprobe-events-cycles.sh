#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Control for test-load-cycles.sh without iotsec: the kernel's own
# kprobe_events place probes on the 13 functions iotsec probes (kretprobes
# and kprobes alike) and the 4 tracepoints it uses are enabled, under the
# same exec and connect load, then all is removed again, N times. On
# Debian 6.1 every one of these probes sits on the function's ftrace site
# ([FTRACE] in /sys/kernel/debug/kprobes/list), as iotsec's do, so the
# kernel patches the same code the same way. Not part of the suite (the
# name does not start with test-); run it in the lab by hand, e.g.
#
#   LAB_ACCEL=tcg,thread=multi scripts/lab.sh --kdir $(scripts/kdir.sh) -- \
#     env IOTSEC_BUILD=$PWD/build IOTSEC_CYCLES=100 tests/vm/kprobe-events-cycles.sh
#
# IOTSEC_CTL_KO=some.ko also loads that module before placing the probes
# and unloads it after removing them, every cycle (module text allocated,
# patched and freed, as with iotsec, but no iotsec code).
# See kmod/README.md, "Seen in the QEMU lab".
set -u

T=/sys/kernel/tracing
tools=$IOTSEC_BUILD/tests/tools
cycles=${IOTSEC_CYCLES:-100}
ko=${IOTSEC_CTL_KO:-}
ret="inet_stream_connect inet_dgram_connect inet_csk_accept inet_listen
     load_module ptrace_attach security_ptrace_traceme"
entry="commit_creds security_kernel_read_file security_file_open
       security_path_truncate security_path_unlink security_path_rename"
tps="sched/sched_process_exec sched/sched_process_exit
     sched/sched_process_fork module/module_load"

echo "TAP version 13"
echo "1..1"
"$tools/loadgen" exec 0 >/dev/null 2>&1 &
exec_pid=$!
"$tools/loadgen" connect 0 >/dev/null 2>&1 &
connect_pid=$!

done_cycles=0
for i in $(seq 1 "$cycles"); do
	if [ -n "$ko" ] && ! insmod "$ko"; then
		echo "# cycle $i: insmod $ko failed"
		break
	fi
	{
		for f in $ret; do echo "r:iotsec_ctl/r_$f $f"; done
		for f in $entry; do echo "p:iotsec_ctl/p_$f $f"; done
	} >>"$T/kprobe_events" || { echo "# cycle $i: adding probes failed"; break; }
	echo 1 >"$T/events/iotsec_ctl/enable"
	for t in $tps; do echo 1 >"$T/events/$t/enable"; done
	[ "$i" != 1 ] || sed 's/^/# /' /sys/kernel/debug/kprobes/list
	sleep 0.1
	for t in $tps; do echo 0 >"$T/events/$t/enable"; done
	echo 0 >"$T/events/iotsec_ctl/enable"
	echo >"$T/kprobe_events" || { echo "# cycle $i: removing probes failed"; break; }
	echo >"$T/trace"
	if [ -n "$ko" ] && ! rmmod "$ko"; then
		echo "# cycle $i: rmmod $ko failed"
		break
	fi
	done_cycles=$i
	[ $((i % 10)) != 0 ] || echo "# cycle $i done"
done
kill "$exec_pid" "$connect_pid"
wait 2>/dev/null
if [ "$done_cycles" = "$cycles" ]; then
	echo "ok 1 - $cycles place/remove cycles of kprobe_events under load"
else
	echo "not ok 1 - $done_cycles of $cycles place/remove cycles"
fi
