#!/usr/bin/env python3
"""run_suite.py - run the OpenSPF RFC 7208 test suite against spf_eval: each
YAML document's zonedata served by dnsserver.py, every test case checked.

usage: run_suite.py --spf-eval PATH [--suite FILE] [--server ADDR:PORT]
                    [--only NAME] [--failures FILE] [-t SECS] [-T SECS]
  --suite    default $TOP_SRCDIR/../shared/testdata/spf/rfc7208-tests.yml
             (read in place, never copied into the tree)
  --server   where our DNS server listens and spf_eval asks (127.0.0.1:53,
             inside the private network namespace run.sh makes)
  --only     run only the cases whose "document/test" name contains NAME
A case passes when the result is one of the listed results and, where the
case gives an explanation, ours equals it ("DEFAULT" = the suite's name for
the default explanation: spf_eval then prints an empty one).
Prints one TAP line per case, then "N passed, M failed"; exit 0 iff all pass.
"""
import argparse
import os
import subprocess
import sys

import yaml

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DNSServer, split_hostport  # noqa: E402


def default_suite():
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.environ.get("TOP_SRCDIR") or os.path.join(here, "..", "..")
    return os.path.join(top, "..", "shared", "testdata", "spf",
                        "rfc7208-tests.yml")


def run_eval(args, server, cases):
    """Feed cases [(id, ip, mailfrom, helo)] to one spf_eval; returns
    {id: (result, explanation, problem)} and spf_eval's stderr."""
    cmd = [args.spf_eval, "-s", server, "-t", str(args.t), "-T", str(args.T)]
    if args.receiver:
        cmd += ["-r", args.receiver]
    stdin = "".join("%s\t%s\t%s\t%s\n" % c for c in cases)
    try:
        p = subprocess.run(cmd, input=stdin.encode("utf-8"),
                           capture_output=True, timeout=args.T * 3 + 30)
        out, err = p.stdout, p.stderr
        if p.returncode != 0:
            err += b"\nspf_eval exited %d" % p.returncode
    except subprocess.TimeoutExpired as e:
        out, err = e.stdout or b"", (e.stderr or b"") + b"\nspf_eval hung"
    got = {}
    for line in out.decode("utf-8", "replace").splitlines():
        f = line.split("\t")
        if len(f) >= 2:
            f += [""] * (4 - len(f))
            got[f[0]] = (f[1], f[2], f[3])
    return got, err.decode("utf-8", "replace")


def field(v):
    return "" if v is None else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spf-eval", default=os.environ.get("SPF_EVAL"),
                    required="SPF_EVAL" not in os.environ)
    ap.add_argument("--suite", default=default_suite())
    ap.add_argument("--server", default="127.0.0.1:53")
    ap.add_argument("--only")
    ap.add_argument("--failures", help="also write the failures here")
    ap.add_argument("--receiver", default="")
    ap.add_argument("-t", type=int, default=1, help="resolver timeout")
    ap.add_argument("-T", type=int, default=20, help="overall timeout")
    args = ap.parse_args()

    with open(args.suite, "rb") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    host, port = split_hostport(args.server)
    srv = DNSServer({}, host, port).start()
    n = passed = 0
    failures = []
    try:
        for doc in docs:
            desc = doc.get("description", "?")
            todo = []
            for name, t in (doc.get("tests") or {}).items():
                full = "%s/%s" % (desc, name)
                if args.only and args.only not in full:
                    continue
                todo.append((full, t))
            if not todo:
                continue
            srv.set_zone(doc.get("zonedata") or {}, suite=True)
            cases = [(str(i), field(t.get("host")), field(t.get("mailfrom")),
                      field(t.get("helo"))) for i, (_, t) in enumerate(todo)]
            got, err = run_eval(args, args.server, cases)
            for i, (full, t) in enumerate(todo):
                n += 1
                want = t["result"]
                want = want if isinstance(want, list) else [want]
                res, exp, prob = got.get(str(i), ("(no output)", "", ""))
                ok = res in want
                why = "got %s want %s" % (res, "|".join(want))
                if ok and "explanation" in t:
                    wexp = t["explanation"]
                    wexp = "" if wexp == "DEFAULT" else wexp
                    if exp != wexp:
                        ok = False
                        why = "explanation %r want %r" % (exp, wexp)
                if ok:
                    passed += 1
                    print("ok %d - %s" % (n, full))
                else:
                    line = "not ok %d - %s %s (spec %s; %s; problem: %s)" % (
                        n, full, why, t.get("spec", "?"),
                        "%s %s %s" % (cases[i][1], cases[i][2] or "<>",
                                      cases[i][3]), prob or "-")
                    print(line)
                    failures.append(line)
            if err.strip() and (args.only or any(
                    f.split(" - ")[1].startswith(desc + "/")
                    for f in failures if " - " in f)):
                sys.stdout.write("# spf_eval stderr (%s):\n# " % desc +
                                 err.strip()[-2000:].replace("\n", "\n# ") +
                                 "\n")
            sys.stdout.flush()
    finally:
        srv.stop()
    failed = n - passed
    if args.failures:
        with open(args.failures, "w") as f:
            f.write("RFC 7208 suite: %d cases, %d passed, %d failed\n"
                    % (n, passed, failed))
            f.write("".join(x + "\n" for x in failures))
    print("1..%d" % n)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if n and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
