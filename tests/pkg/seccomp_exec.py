#!/usr/bin/python3
# seccomp_exec.py - exec a program under the seccomp filter that a systemd
# unit file asks for, so that unit_sandbox.py can run strictmxd with it.
#
# usage: seccomp_exec.py UNIT PROGRAM [ARG...]
# Reads from UNIT (python3-seccomp needed; run after the uid change and
# with no_new_privs, as systemd does):
#   SystemCallFilter=        allow lists (@groups expanded by
#                            `systemd-analyze syscall-filter`), and "~"
#                            lines removing from them
#   SystemCallErrorNumber=   the errno of a refused call (else SIGSYS)
#   SystemCallArchitectures=native  other ABIs are killed (libseccomp's
#                            default for foreign architectures)
#   RestrictAddressFamilies= socket() of another family: EAFNOSUPPORT
#   MemoryDenyWriteExecute=yes  mmap W+X, mprotect/pkey_mprotect +X,
#                            shmat SHM_EXEC: EPERM (systemd's rules)
# then execs PROGRAM. Prints what it applied on stderr.

import errno
import os
import socket
import subprocess
import sys

import seccomp

PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000


def unit_settings(path):
    """The [Service] assignments of a unit file, as (key, value) pairs."""
    out, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line:
                k, v = line.split("=", 1)
                out.append((k.strip(), v.strip()))
    return out


def expand(name, seen=None):
    """The system calls of a name: itself, or the members of @group."""
    if not name.startswith("@"):
        return {name}
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    text = subprocess.run(["systemd-analyze", "syscall-filter", name],
                          check=True, capture_output=True, text=True).stdout
    calls = set()
    for line in text.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            calls |= expand(line, seen)
    return calls


def main():
    unit, argv = sys.argv[1], sys.argv[2:]
    allow, deny, err, families, mdwe = None, set(), None, None, False
    for k, v in unit_settings(unit):
        if k == "SystemCallFilter":
            if v.startswith("~"):
                for n in v[1:].split():
                    deny |= expand(n)
            else:
                allow = (allow or set())
                for n in v.split():
                    allow |= expand(n)
        elif k == "SystemCallErrorNumber":
            err = getattr(errno, v)
        elif k == "RestrictAddressFamilies":
            families = [getattr(socket, f) for f in v.split()]
        elif k == "MemoryDenyWriteExecute":
            mdwe = v == "yes"
    if allow is None:
        sys.exit("seccomp_exec: no SystemCallFilter allow list in " + unit)
    allow -= deny
    # systemd always lets the process exec its program and exit.
    allow |= {"execve", "exit", "exit_group", "rt_sigreturn"}

    refuse = seccomp.ERRNO(err) if err is not None else seccomp.KILL
    f = seccomp.SyscallFilter(refuse)
    n = 0
    for call in sorted(allow):
        try:
            nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, call)
        except (ValueError, RuntimeError):
            continue
        if nr < 0:		# not a system call on this architecture
            continue
        if call in ("mmap", "mprotect", "pkey_mprotect", "shmat",
                    "socket") and (mdwe or families):
            continue	# added below with their argument rules
        f.add_rule(seccomp.ALLOW, call)
        n += 1
    # libseccomp refuses a rule whose action is the default one.
    eperm = (lambda call, *a: None) if err == errno.EPERM else \
        (lambda call, *a: f.add_rule(seccomp.ERRNO(errno.EPERM), call, *a))
    if mdwe:
        both = PROT_WRITE | PROT_EXEC
        eperm("mmap", seccomp.Arg(2, seccomp.MASKED_EQ, both, both))
        f.add_rule(seccomp.ALLOW, "mmap",
                   seccomp.Arg(2, seccomp.MASKED_EQ, both, 0))
        f.add_rule(seccomp.ALLOW, "mmap",
                   seccomp.Arg(2, seccomp.MASKED_EQ, both, PROT_WRITE))
        f.add_rule(seccomp.ALLOW, "mmap",
                   seccomp.Arg(2, seccomp.MASKED_EQ, both, PROT_EXEC))
        for call in ("mprotect", "pkey_mprotect"):
            eperm(call,
                  seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
            f.add_rule(seccomp.ALLOW, call,
                       seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
        eperm("shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
        f.add_rule(seccomp.ALLOW, "shmat",
                   seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, 0))
    else:
        for call in ("mmap", "mprotect", "pkey_mprotect", "shmat"):
            if call in allow:
                f.add_rule(seccomp.ALLOW, call)
    if families is not None:
        for fam in families:
            f.add_rule(seccomp.ALLOW, "socket",
                       seccomp.Arg(0, seccomp.EQ, fam))
        # Any other family: the rule that does not match falls to refuse;
        # systemd answers EAFNOSUPPORT there.
        for fam in range(0, 64):
            if fam not in families:
                f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                           seccomp.Arg(0, seccomp.EQ, fam))
    elif "socket" in allow:
        f.add_rule(seccomp.ALLOW, "socket")
    print("seccomp_exec: %d system calls allowed, refused with %s%s%s" % (
        n, errno.errorcode.get(err, "SIGSYS") if err else "SIGSYS",
        ", MemoryDenyWriteExecute" if mdwe else "",
        ", address families %s" % " ".join(
            socket.AddressFamily(x).name for x in families) if families else ""),
        file=sys.stderr)
    f.load()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
