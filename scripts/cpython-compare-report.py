#!/usr/bin/env python3
"""scripts/cpython-compare-report.py DIR ROUNDS: the report of scripts/cpython-compare.sh.

Reads DIR/rN/MODULE-native.log and DIR/rN/MODULE-greenrun.log for N in 1..ROUNDS (the -v logs
of scripts/python-check.sh) with python-check-report.py's parser. A case passes when its
status is ok, skipped or an expected failure. Prints, per module, every case that passed
natively in some round and did not pass under greenrun in that same round, then the totals.
Exit status: 0 when there is no such case, 1 otherwise.
"""
import glob
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("pcr", os.path.join(HERE, "python-check-report.py"))
pcr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pcr)

PASS = ("ok", "skipped", "expected failure")


def main():
    out, rounds = sys.argv[1], int(sys.argv[2])
    modules = []
    for path in sorted(glob.glob(os.path.join(out, "r1", "*-native.log"))):
        modules.append(os.path.basename(path)[:-len("-native.log")])
    passing, failing = set(), {}
    for mod in modules:
        for r in range(1, rounds + 1):
            base = os.path.join(out, f"r{r}", mod)
            nat, _, _ = pcr.parse_log(base + "-native.log")
            green, fails, summary = pcr.parse_log(base + "-greenrun.log")
            for key, st in nat.items():
                if st not in PASS:
                    continue
                passing.add(key)
                got = green.get(key, "not run")
                if got in PASS:
                    continue
                why = got
                if fails.get(key):
                    why += ": " + pcr.failure_summary(fails[key])
                elif got == "no result" and summary["timeout"]:
                    why += ": hung"
                failing.setdefault((mod, key), []).append(f"round {r}: {why}")
    current = None
    for (mod, key), notes in sorted(failing.items()):
        if mod != current:
            print(f"{mod}:")
            current = mod
        print(f"  {key}")
        for n in notes:
            print(f"      {n}")
    print(f"{len(passing)} cases pass natively, {len(failing)} of them fail under greenrun "
          f"({rounds} round(s), modules: {' '.join(modules)})")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
