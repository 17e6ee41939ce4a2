#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The hidden-assumption audit of the module's kprobes.

A kprobe handler reads the probed function's arguments from registers
(iotsec_arg(regs, N) cast to a type); nothing checks at compile time that
the function exists on the target kernel, nor that its Nth parameter is
what the cast says. This tool checks both, per kernel:

  protos --kmod DIR --source TARBALL|DIR [--arch x86_64|arm64|arm]
      Host side. Reads every kprobe/kretprobe of kmod/*.c (symbol, whether
      it is optional or the fallback of the hook before it, the handlers,
      the arguments each handler reads and their casts) and finds each
      symbol's definition in the kernel source (Debian's linux-source-X.Y
      tarball, read in place). Prints one line per symbol and argument
      read: a table for `check`. --arch names the system call entries as
      compat.h's IOTSEC_SYSCALL_SYM does there (default x86_64).
  check --table FILE [--kallsyms /proc/kallsyms] [--label L]
      Guest side (TAP). Per symbol: in the booted kernel's kallsyms (or,
      optional, reported unavailable), and every argument it reads of a
      type that matches the prototype.

A fallback hook (.fallback = true, kmod/hooks.c) is placed only where the
hook before it that is no fallback (its primary) cannot be: the ptrace
hooks on sys_ptrace where ptrace_attach() is inlined (armmp). Its table
kind is "fallback:PRIMARY" (":optional" when it is optional too). `check`
takes a primary missing from kallsyms as hooked where one of its
fallbacks is there, and a fallback missing as unneeded where its primary
is there; a primary and all its fallbacks missing is a failure.

Types match when they name the same thing once qualifiers (const,
volatile, __user) are dropped; integer-like casts (int, long, u32, ...)
match any integer, enum or bool parameter.
"""
import argparse
import os
import re
import sys
import tarfile

HOOK_KPROBE = re.compile(
    r'IOTSEC_(?:HELPER_)?KPROBE\(\s*("[^"]+"|IOTSEC_SYSCALL_SYM\("[^"]+"\))\s*,'
    r'\s*\w+\s*,\s*(\w+)\s*\)')
HOOK_KRETPROBE = re.compile(
    r'IOTSEC_KRETPROBE\(\s*("[^"]+"|IOTSEC_SYSCALL_SYM\("[^"]+"\))\s*,'
    r'\s*\w+\s*,\s*(\w+)\s*,\s*(\w+)\s*,')
# The designated-initialiser form: { ... .optional = true, .kp = {
# .symbol_name = "x", .pre_handler = h } } or .rp = { .kp.symbol_name ...
HOOK_STRUCT = re.compile(
    r'\{\s*\.type\s*=\s*\w+\s*,\s*\.kind\s*=\s*IOTSEC_HOOK_K(?:RET)?PROBE(.*?)\}\s*\}',
    re.S)
HANDLER = re.compile(
    r'^static\s+int\s+(\w+)\s*\(\s*struct\s+(?:kprobe\s*\*\s*\w+|'
    r'kretprobe_instance\s*\*\s*\w+)\s*,\s*struct\s+pt_regs\s*\*\s*\w+\s*\)\s*\{',
    re.M)
ARG = re.compile(r'\(\s*([^()]+?)\s*\)\s*iotsec_arg\s*\(\s*\w+\s*,\s*(\d)\s*\)')
INTEGER = {'int', 'long', 'unsigned', 'unsigned int', 'unsigned long', 'bool',
           'u8', 'u16', 'u32', 'u64', 's32', 's64', 'size_t', 'loff_t',
           'long long', 'unsigned long long', 'short', 'char'}
SEARCH_DIRS = ('kernel/', 'net/', 'security/', 'fs/', 'mm/', 'ipc/')


# kmod/Kbuild's feature probes: $(call probe,PATTERN,HEADER,-DMACRO), a
# grep of PATTERN in the kernel's HEADER. A hook inside #ifdef/#ifndef of
# such a macro is compiled for a kernel or not by the same test, made here
# on the kernel's source (HEADERS: the headers the probes read).
PROBE = re.compile(r'\$\(call probe,([^,]+),([^,]+),-D(\w+)\)')
HEADERS = ()


def kbuild_probes(kmod):
    """[(pattern, header, macro)] of kmod/Kbuild."""
    try:
        text = open(os.path.join(kmod, 'Kbuild')).read()
    except OSError:
        return []
    return [(m.group(1), m.group(2).strip(), m.group(3))
            for m in PROBE.finditer(text)]


def guards(src, pos):
    """The (macro, wanted) conditions around offset POS of SRC."""
    stack = []
    for line in src[:pos].split('\n'):
        t = line.strip()
        m = re.match(r'#\s*if(n?)def\s+(\w+)', t)
        if m:
            stack.append((m.group(2), m.group(1) != 'n'))
        elif re.match(r'#\s*if\b', t):
            stack.append((None, True))
        elif re.match(r'#\s*else\b', t) and stack:
            mac, want = stack.pop()
            stack.append((mac, not want))
        elif re.match(r'#\s*endif\b', t) and stack:
            stack.pop()
    return [(mac, want) for mac, want in stack if mac]


# compat.h's IOTSEC_SYSCALL_SYM per architecture: the syscall wrapper
# taking the user registers (x86-64, arm64), or sys_NAME itself (arm).
SYSCALL_PREFIX = {'x86_64': '__x64_sys_', 'arm64': '__arm64_sys_',
                  'arm': 'sys_'}
ARCH = 'x86_64'


def sym_name(tok):
    m = re.match(r'IOTSEC_SYSCALL_SYM\("([^"]+)"\)', tok)
    if m:
        return SYSCALL_PREFIX[ARCH] + m.group(1), m.group(1)
    return tok.strip('"'), None


def handler_args(src):
    """Handler name -> [(N, cast)] for every handler in SRC, with the reads
    of the handlers it calls with its regs (dgram4_entry -> dgram_entry)."""
    reads, calls = {}, {}
    starts = [(m.start(), m.group(1)) for m in HANDLER.finditer(src)]
    for i, (pos, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(src)
        body = src[pos:end]
        # the function ends at the first closing brace in column 0
        close = re.search(r'^\}', body, re.M)
        if close:
            body = body[:close.end()]
        reads[name] = {(int(n), ' '.join(t.split()))
                       for t, n in ARG.findall(body)}
        calls[name] = set(re.findall(r'\b(\w+)\s*\(\s*\w+\s*,\s*regs\s*\)',
                                     body[body.index('{'):])) - {name}
    out = {}
    for name in reads:
        seen, todo, acc = set(), [name], set()
        while todo:
            h = todo.pop()
            if h in seen or h not in reads:
                continue
            seen.add(h)
            acc |= reads[h]
            todo.extend(calls[h])
        out[name] = sorted(acc)
    return out


def kmod_hooks(kmod):
    """[(symbol, syscall, kind, file, [handlers], handlers, guards)] for
    kmod/*.c; KIND is required, optional or fallback:PRIMARY[:optional]."""
    hooks = []
    for f in sorted(os.listdir(kmod)):
        if not f.endswith('.c') or f.endswith('.mod.c'):
            continue
        src = open(os.path.join(kmod, f)).read()
        handlers = handler_args(src)
        # (offset, symbol, syscall, optional, fallback, handlers)
        found = []
        for m in HOOK_KPROBE.finditer(src):
            found.append((m.start(), m.group(1), False, False, [m.group(2)]))
        for m in HOOK_KRETPROBE.finditer(src):
            found.append((m.start(), m.group(1), False, False,
                          [m.group(2), m.group(3)]))
        for m in HOOK_STRUCT.finditer(src):
            body = m.group(1)
            sm = re.search(r'symbol_name\s*=\s*("[^"]+"|IOTSEC_SYSCALL_SYM\("[^"]+"\))', body)
            if not sm:
                continue
            opt = bool(re.search(r'\.optional\s*=\s*true', body))
            fb = bool(re.search(r'\.fallback\s*=\s*true', body))
            hs = re.findall(r'\.(?:pre_handler|entry_handler|handler)\s*=\s*(\w+)', body)
            found.append((m.start(), sm.group(1), opt, fb, hs))
        # hooks.c: a fallback stands in for the last hook before it in its
        # array that is no fallback
        primary = None
        for pos, tok, opt, fb, hs in sorted(found, key=lambda x: x[0]):
            s, sc = sym_name(tok)
            if fb and primary:
                kind = 'fallback:' + primary + (':optional' if opt else '')
            else:
                kind = 'optional' if opt else 'required'
            if not fb:
                primary = s
            hooks.append((s, sc, kind, f, hs, handlers, guards(src, pos)))
    return hooks


class Source:
    """The kernel source: a directory or a tarball read in place."""

    def __init__(self, path):
        self.files = {}
        if os.path.isdir(path):
            for d in SEARCH_DIRS:
                for root, _, names in os.walk(os.path.join(path, d)):
                    for n in names:
                        if n.endswith('.c'):
                            p = os.path.join(root, n)
                            self.files[os.path.relpath(p, path)] = open(
                                p, errors='replace').read()
            for h in HEADERS:
                p = os.path.join(path, h)
                if os.path.isfile(p):
                    self.files[h] = open(p, errors='replace').read()
        else:
            with tarfile.open(path) as t:
                for m in t:
                    if not m.isfile() or not m.name.endswith(('.c', '.h')):
                        continue
                    rel = m.name.split('/', 1)[1] if '/' in m.name else m.name
                    if rel.endswith('.h') and rel not in HEADERS:
                        continue
                    if not rel.startswith(SEARCH_DIRS + ('include/',)):
                        continue
                    if rel.startswith('include/') and rel not in HEADERS:
                        continue
                    self.files[rel] = t.extractfile(m).read().decode(
                        'utf-8', 'replace')

    def prototype(self, sym, syscall):
        """(file, [params]) of SYM's definition, or None.

        The parameters hold no parentheses: a kernel-doc line naming the
        function ("security_path_unlink() - ...", 6.4 and newer) must not
        start a match that swallows the definition after it.
        """
        if syscall:
            # x86-64's wrapper __x64_sys_NAME(const struct pt_regs *regs)
            # (since 4.17), arm64's __arm64_sys_NAME (4.19): the call's own
            # arguments are in the user registers that regs points to, not
            # the wrapper's arguments. On arm, sys_NAME takes them itself:
            # SYSCALL_DEFINEn(name, type, arg, ...).
            pat = re.compile(r'^SYSCALL_DEFINE\d\(\s*' + re.escape(syscall) +
                             r'\s*(?:,([^)]*))?\)', re.M)
            for f, text in self.files.items():
                m = pat.search(text)
                if not m:
                    continue
                if ARCH != 'arm':
                    return f, ['const struct pt_regs *regs']
                parts = [' '.join(p.split())
                         for p in (m.group(1) or '').split(',')]
                return f, [parts[i] + ' ' + parts[i + 1]
                           for i in range(0, len(parts) - 1, 2)]
            return None
        pat = re.compile(r'^(?:[\w\s\*]*?)\b' + re.escape(sym) +
                         r'\s*\(([^;{()]*?)\)\s*\{', re.M)
        for f, text in self.files.items():
            if sym not in text:
                continue
            for m in pat.finditer(text):
                line = text[text.rfind('\n', 0, m.start()) + 1:m.start(1)]
                if line.lstrip().startswith(('#', 'return', 'if', '*', '//')):
                    continue
                params = [' '.join(p.split()) for p in m.group(1).split(',')]
                if params == ['void']:
                    params = []
                return f, params
        return None


def strip_name(param):
    """'const struct path *dir' -> 'const struct path *'."""
    p = param.strip()
    m = re.match(r'^(.*?[\s\*])(\w+)$', p)
    if m and m.group(1).strip() not in ('struct', 'enum', 'union', ''):
        p = m.group(1)
    return ' '.join(p.replace('*', ' * ').split()).replace(' *', '*').replace('*', ' *').strip()


def base(t):
    t = re.sub(r'\b(const|volatile|__user|__rcu|__force)\b', ' ', t)
    return ' '.join(t.replace('*', ' * ').split())


def compatible(cast, param):
    c, p = base(cast), base(strip_name(param))
    if c == p:
        return True
    if '*' not in c and '*' not in p:
        return c in INTEGER and (p in INTEGER or p.startswith('enum '))
    return False


def cmd_protos(a):
    global HEADERS, ARCH
    ARCH = a.arch
    probes = kbuild_probes(a.kmod)
    HEADERS = tuple(sorted({h for _, h, _ in probes}))
    src = Source(a.source)
    # A probe's pattern is a grep (basic) regular expression.
    defined = {mac for pat, h, mac in probes
               if re.search(pat, src.files.get(h, ''))}
    for sym, sc, kind, f, hs, handlers, conds in kmod_hooks(a.kmod):
        # compiled out for this kernel: not placed, nothing to check
        if any(mac.startswith('IOTSEC_HAVE_') and (mac in defined) != want
               for mac, want in conds):
            continue
        reads = sorted({r for h in hs for r in handlers.get(h, [])})
        proto = src.prototype(sym, sc)
        where = proto[0] if proto else '-'
        params = proto[1] if proto else []
        if not reads:
            print('\t'.join([sym, kind, f, '-', '-', where,
                             'ok' if proto else 'noproto']))
        for n, cast in reads:
            if not proto:
                verdict, p = 'noproto', '-'
            elif n >= len(params):
                verdict, p = 'mismatch', '(has %d parameters)' % len(params)
            else:
                p = params[n]
                verdict = 'ok' if compatible(cast, p) else 'mismatch'
            print('\t'.join([sym, kind, f, str(n), cast, where + ': ' + p
                             if proto else '-', verdict]))


def cmd_check(a):
    syms = set()
    with open(a.kallsyms) as k:
        for line in k:
            parts = line.split()
            if len(parts) >= 3:
                syms.add(parts[2])
    rows = [line.rstrip('\n').split('\t') for line in open(a.table) if line.strip()]
    # primary -> the fallbacks that stand in for it (kmod/hooks.c)
    fallbacks = {}
    for sym, kind, *_ in rows:
        if kind.startswith('fallback:'):
            fallbacks.setdefault(kind.split(':')[1], set()).add(sym)
    label = '[%s] ' % a.label if a.label else ''
    n = failed = 0
    print('TAP version 13')
    print('1..%d' % len(rows))
    for sym, kind, f, arg, cast, proto, verdict in rows:
        n += 1
        present = sym in syms
        what = '%s%s (%s, %s)' % (label, sym, f, kind)
        if arg != '-':
            what += ': arg%s read as (%s), prototype %s' % (arg, cast, proto)
        if kind.startswith('fallback:'):
            primary = kind.split(':')[1]
            if not present and primary in syms:
                print('ok %d - %s # not in kallsyms: not needed, %s is there'
                      % (n, what, primary))
                continue
            if not present and (kind.endswith(':optional') or
                                fallbacks[primary] & syms):
                print('ok %d - %s # not in kallsyms: optional, reported unavailable'
                      % (n, what))
                continue
            if not present:
                print('not ok %d - %s: not in kallsyms, nor is %s' % (n, what, primary))
                failed += 1
                continue
        elif not present and fallbacks.get(sym, set()) & syms:
            print('ok %d - %s # not in kallsyms (inlined): hooked by its fallback %s'
                  % (n, what, ', '.join(sorted(fallbacks[sym] & syms))))
            continue
        if not present and kind == 'optional':
            print('ok %d - %s # not in kallsyms: optional, reported unavailable' % (n, what))
            continue
        if not present:
            print('not ok %d - %s: not in kallsyms' % (n, what))
            failed += 1
            continue
        if verdict == 'mismatch':
            print('not ok %d - %s: argument differs from the prototype' % (n, what))
            failed += 1
        elif verdict == 'noproto':
            print('ok %d - %s # in kallsyms; no definition found in the source' % (n, what))
        else:
            print('ok %d - %s' % (n, what))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('protos')
    p.add_argument('--kmod', required=True)
    p.add_argument('--source', required=True)
    p.add_argument('--arch', default='x86_64', choices=sorted(SYSCALL_PREFIX))
    c = sub.add_parser('check')
    c.add_argument('--table', required=True)
    c.add_argument('--kallsyms', default='/proc/kallsyms')
    c.add_argument('--label', default='')
    a = ap.parse_args()
    if a.cmd == 'protos':
        cmd_protos(a)
        return 0
    return cmd_check(a)


if __name__ == '__main__':
    sys.exit(main())
