#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Log in with login(1) on a pseudo-terminal, as a person (or a password
guesser) at a remote terminal would: login -h HOST USER, answering each
password prompt with PASSWORD, TRIES times at most; a successful login
runs "exit" in the shell it gets. login(1) writes each failure to btmp
(with HOST as the remote address) and a success to wtmp.

    login-pty.py HOST USER PASSWORD [TRIES]

Prints "passwords N" and "shell" when a shell prompt came; exits 0 when
login(1) ended by itself within the time limit.
"""
import os
import pty
import select
import sys
import time

host, user, password = sys.argv[1:4]
tries = int(sys.argv[4]) if len(sys.argv) > 4 else 1
pid, fd = pty.fork()
if pid == 0:
    os.execv("/usr/bin/login", ["login", "-h", host, user])
buf, sent, shell = b"", 0, False
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    r, _, _ = select.select([fd], [], [], 1)
    if not r:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    buf += data
    if b"Password:" in buf:
        buf = buf.split(b"Password:", 1)[1]
        if sent >= tries:
            os.kill(pid, 9)
            break
        os.write(fd, password.encode() + b"\n")
        sent += 1
    elif b"login:" in buf:
        buf = buf.split(b"login:", 1)[1]
        os.write(fd, user.encode() + b"\n")
    elif not shell and (buf.rstrip().endswith(b"$") or
                        buf.rstrip().endswith(b"#")):
        shell = True
        os.write(fd, b"exit\n")
_, status = os.waitpid(pid, 0)
print("passwords", sent)
if shell:
    print("shell")
sys.exit(0 if time.monotonic() < deadline else 1)
