#!/usr/bin/python3
"""Run pgward's integration tests (tests/integration/test_*.py) with unittest.

    PGWARD_BUILD=build-san /usr/bin/python3 tests/integration/run.py [-k PATTERN]... [-x] [-q]

-k PATTERN   only tests whose id contains PATTERN (substring; unittest -k
             semantics, repeatable); e.g. -k Harness -k test_cancel
-x           stop at the first failure
Exit status: 0 when everything passed, 1 otherwise.
"""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)

import pgward_env  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", action="append", dest="patterns", default=[],
                    help="run only tests matching this substring (repeatable)")
    ap.add_argument("-x", "--failfast", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("files", nargs="*", help="test files (default: all test_*.py)")
    args = ap.parse_args()

    pgward_env.install_signal_cleanup()
    print("pgward integration tests, PGWARD_BUILD=%s" % pgward_env.build_dir(), flush=True)

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in args.patterns]
    if args.files:
        suite = unittest.TestSuite()
        for f in args.files:
            mod = os.path.splitext(os.path.basename(f))[0]
            suite.addTests(loader.loadTestsFromName(mod))
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(verbosity=1 if args.quiet else 2,
                                     failfast=args.failfast, buffer=False)
    result = runner.run(suite)
    print("integration: %d run, %d failures, %d errors, %d skipped in %.1fs"
          % (result.testsRun, len(result.failures), len(result.errors),
             len(result.skipped), time.monotonic() - t0), flush=True)
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
