#!/usr/bin/env python3
"""Prints, for each failed test of a meson run, the few lines that say why.

meson prints whole error logs early in a long output; when only the end of
the output is kept (a CI summary), this digest, printed just before the
count, still names each failure and its first assertion messages.
"""
import json
import re
import sys

KEEP = re.compile(r"^not ok |ERROR|[Ee]rror:|FAIL|status \d+|stopped|Bail out|AddressSanitizer|runtime error")
PER_TEST = 6


def main(path):
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return
    for line in lines:
        try:
            t = json.loads(line)
        except ValueError:
            continue
        if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
            continue
        print(f"failed: {t.get('name')} ({t.get('result')}, exit {t.get('returncode')})")
        text = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
        shown = 0
        for l in text.splitlines():
            if KEEP.search(l) and shown < PER_TEST:
                print("    " + l.strip()[:300])
                shown += 1


if __name__ == "__main__":
    main(sys.argv[1])
