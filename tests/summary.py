#!/usr/bin/env python3
"""summary.py - add up the automake test logs of the given build dirs:
Check's "Checks: N, Failures: F, Errors: E", pytest's "N passed, M failed",
plain PASS/FAIL for other scripts. Prints one line "N passed, M failed"."""
import glob
import os
import re
import sys

passed = failed = 0
seen = False
args = sys.argv[1:]
if args[:1] == ["--failed"]:    # steps that failed before any test ran
    failed += int(args[1])
    args = args[2:]
while args[:1] == ["--tap"]:    # TAP logs of checks run outside make
    text = open(args[1]).read() if os.path.exists(args[1]) else ""
    p = len(re.findall(r"^ok \d+", text, re.M))
    f = len(re.findall(r"^not ok \d+", text, re.M))
    if p + f == 0:
        f = 1       # the step did not run or printed nothing
    passed, failed = passed + p, failed + f
    print(f"{'PASS' if not f else 'FAIL':5} {p:4} passed {f:3} failed  {args[1]}")
    args = args[2:]
for d in args:
    for trs in sorted(glob.glob(os.path.join(d, "tests", "**", "*.trs"),
                                recursive=True)):
        seen = True
        log = trs[:-4] + ".log"
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        res = re.search(r":test-result: (\w+)", open(trs).read())
        res = res.group(1) if res else "ERROR"
        check = re.search(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", text)
        pyp = re.findall(r"(\d+) passed", text)
        pyf = re.findall(r"(\d+) (?:failed|errors?)\b", text)
        tap_ok = len(re.findall(r"^ok \d+", text, re.M))
        tap_bad = len(re.findall(r"^not ok \d+", text, re.M))
        if check:
            n, fl, er = map(int, check.groups())
            p, f = n - fl - er, fl + er
        elif pyp or pyf:
            p = int(pyp[-1]) if pyp else 0
            f = int(pyf[-1]) if pyf else 0
        elif tap_ok or tap_bad:
            p, f = tap_ok, tap_bad
        else:
            p, f = int(res in ("PASS", "XFAIL")), 0
        if res in ("FAIL", "ERROR", "XPASS", "SKIP") and f == 0:
            f = 1   # crashed, skipped or failed with no countable summary
        passed += p
        failed += f
        print(f"{res:5} {p:4} passed {f:3} failed  {log}")
if not seen:
    print("no test results found")
    failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
