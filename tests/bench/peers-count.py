#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Count what a collector reported of the short processes of
# tests/bench/peers.sh: process i ran
#     /bin/true arg-<i>-<tag> --n=<i> last-<tag>
#
#   peers-count.py FORMAT TAG N FILE...
#   FORMAT: iotsec (mosquitto_sub -v lines), auditd (raw log), procconn,
#           execsnoop, sysdig (%evt.type|%proc.pid|%proc.exepath|%proc.exe|%proc.args)
#
# Prints "reported exe exact argv complete", each a number of distinct i:
# reported: some event of process i; exe: its executable is given as a
# path naming /usr/bin/true (on Debian /bin is a link to usr/bin, so
# /bin/true counts); exact: the string /usr/bin/true itself; argv: the
# four arguments exactly; complete: exe and argv right in one event.
import json
import os
import re
import sys

TRUE = "/usr/bin/true"


def expected(tag, i):
    return ["/bin/true", "arg-%d-%s" % (i, tag), "--n=%d" % i, "last-" + tag]


def unescape(s):
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), s)


def iotsec(lines):
    def walk(o, name=None):
        if isinstance(o, dict):
            name = o.get("Name", name)
            if name == "ProcessCreate" and "CommandLine" in o:
                yield o.get("Executable", ""), o["CommandLine"].split(" ")
            for v in o.values():
                yield from walk(v, name)
        elif isinstance(o, list):
            for v in o:
                yield from walk(v, name)

    for line in lines:
        _, _, js = line.partition(" ")
        try:
            msg = json.loads(js)
        except ValueError:
            continue
        yield from walk(msg)


def audit_value(v):
    if v.startswith('"'):
        return v[1:-1] if v.endswith('"') else v[1:]
    if v == "(null)":
        return ""
    try:
        return bytes.fromhex(v).decode("utf-8", "replace")
    except ValueError:
        return v


def auditd(lines):
    exe, argv = {}, {}
    rx = re.compile(r"^type=(\w+) msg=audit\([\d.]+:(\d+)\): (.*)$")
    kv = re.compile(r'(\w+)=("[^"]*"|\S+)')
    for line in lines:
        m = rx.match(line)
        if not m:
            continue
        typ, serial, rest = m.groups()
        fields = dict(kv.findall(rest))
        if typ == "SYSCALL" and fields.get("syscall") == "59":
            exe[serial] = audit_value(fields.get("exe", ""))
        elif typ == "EXECVE":
            n = int(fields.get("argc", "0"))
            argv[serial] = [audit_value(fields.get("a%d" % k, "")) for k in range(n)]
    for serial, a in argv.items():
        yield exe.get(serial, ""), a


def procconn(lines):
    for line in lines:
        f = line.rstrip("\n").split(" ")
        if len(f) < 4 or f[0] != "exec":
            continue
        yield unescape(f[2]) if f[2] != "-" else "", [unescape(a) for a in f[4:]]


def execsnoop(lines):
    # PCOMM PID PPID RET ARGS; ARGS = the path given to execve, then argv[1:]
    rx = re.compile(r"^(.{1,16}?)\s+(\d+)\s+(\d+)\s+(-?\d+) (.*)$")
    for line in lines:
        m = rx.match(line.rstrip("\n"))
        if not m or m.group(4) != "0":
            continue
        args = m.group(5).split(" ")
        yield args[0], args


def sysdig(lines):
    for line in lines:
        f = line.rstrip("\n").split("|", 4)
        if len(f) < 5 or f[0] != "execve":
            continue
        yield f[2], [f[3]] + (f[4].split(" ") if f[4] else [])


def main():
    fmt, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lines = []
    for path in sys.argv[4:]:
        try:
            with open(path, errors="replace") as f:
                lines.extend(f)
        except OSError:
            pass
    parse = {"iotsec": iotsec, "auditd": auditd, "procconn": procconn,
             "execsnoop": execsnoop, "sysdig": sysdig}[fmt]
    rx = re.compile(r"^arg-(\d+)-" + re.escape(tag) + "$")
    seen, exe_ok, exact, argv_ok, complete = set(), set(), set(), set(), set()
    for exe, argv in parse(lines):
        i = None
        for a in argv:
            m = rx.match(a)
            if m:
                i = int(m.group(1))
                break
        if i is None:
            # the process was seen, its arguments not (e.g. cmdline gone)
            continue
        seen.add(i)
        good_exe = bool(exe) and os.path.realpath(exe) == TRUE
        if good_exe:
            exe_ok.add(i)
        if exe == TRUE:
            exact.add(i)
        if argv == expected(tag, i):
            argv_ok.add(i)
            if good_exe:
                complete.add(i)
    print(len(seen), len(exe_ok), len(exact), len(argv_ok), len(complete))


if __name__ == "__main__":
    main()
