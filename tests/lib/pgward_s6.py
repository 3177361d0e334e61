"""Running pgward's daemons under a real s6-svscan, from copies of
scripts/s6/ whose variables point at configurations the harness wrote.
Used by the demo (when s6 is installed) and by tests/integration/test_ops.py."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pgward_env

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
S6_DIR = os.path.join(REPO, "scripts", "s6")
DAEMONS = ("auth", "logd", "filter", "relay")


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise pgward_env.HarnessError("%s not found: install the s6 package "
                                      "(scripts/install-deps lists it)" % name)
    return path


def available():
    return shutil.which("s6-svscan") is not None


def set_vars(path, **values):
    """Rewrites the VAR=value lines at the top of a run script."""
    with open(path) as f:
        text = f.read()
    for k, v in values.items():
        text, n = re.subn(r"^%s=.*$" % k, "%s=%s" % (k, v), text, count=1, flags=re.M)
        if n != 1:
            raise pgward_env.HarnessError("%s: no %s= line" % (path, k))
    with open(path, "w") as f:
        f.write(text)


class S6Scan:
    """daemons: {"auth": Auth, "logd": Logd, "filter": Filter, "relay": Relay}
    harness objects, each with its own directory; their configs are written
    here and s6 runs the binaries."""

    def __init__(self, base, daemons):
        self.base = base
        self.scan = os.path.join(base, "scan")
        self.daemons = daemons
        self.svscan = None
        self.out = None

    def svdir(self, name):
        return os.path.join(self.scan, "pgward-" + name)

    def log_path(self, name):
        return os.path.join(self.base, "s6log", name, "current")

    def start(self, ready_timeout=60):
        """Brings the suite up under a real s6-svscan. A start that does not
        become ready is reported in full on stderr (svscan's output, each
        service's state and log) and tried once more from scratch: the
        first start has been seen, rarely and only in whole `make check`
        runs, to leave pgward-relay's service without even a log."""
        try:
            return self._start_once(ready_timeout)
        except pgward_env.HarnessError as e:
            report = "%s\n%s" % (e, self.diagnostics())
            self.stop()
            print("pgward_s6: the suite did not come up under s6; trying once more. "
                  "What s6 said:\n" + report, file=sys.stderr, flush=True)
            shutil.rmtree(self.scan, ignore_errors=True)
            try:
                return self._start_once(ready_timeout)
            except pgward_env.HarnessError as e2:
                report2 = "%s\n%s" % (e2, self.diagnostics())
                self.stop()
                raise pgward_env.HarnessError(report2)

    def diagnostics(self):
        lines = []
        try:
            with open(os.path.join(self.base, "svscan.out"), errors="replace") as f:
                lines.append("svscan.out: " + f.read()[-2000:])
        except OSError as e:
            lines.append("svscan.out: %s" % e)
        for name in self.daemons:
            st = subprocess.run([tool("s6-svstat"), self.svdir(name)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=10).stdout.strip()
            lines.append("pgward-%s: %s; log: %s" % (name, st, self.log_tail(name, 1500)))
        return "\n".join(lines)

    def _start_once(self, ready_timeout):
        for dm in self.daemons.values():
            dm.prepare()
            pgward_env.write_file(dm.conf_path, dm.config_text(), 0o600)
        shutil.copytree(S6_DIR, self.scan)
        bindir = os.path.join(pgward_env.build_dir(), "bin")
        for name in self.daemons:
            sv = self.svdir(name)
            set_vars(os.path.join(sv, "run"), USER="", BIN=bindir,
                     CONF=self.daemons[name].conf_path, RUNDIR=self.base)
            set_vars(os.path.join(sv, "log", "run"), USER="",
                     LOGDIR=os.path.join(self.base, "s6log", name))
        self.out = open(os.path.join(self.base, "svscan.out"), "ab")
        self.svscan = subprocess.Popen([tool("s6-svscan"), self.scan], stdin=subprocess.DEVNULL,
                                       stdout=self.out, stderr=self.out, start_new_session=True)
        # Starting the scan directory brings the suite up in dependency order.
        self.wait_ready("relay", ready_timeout)
        return self

    def wait_ready(self, name, timeout=30):
        deadline = time.monotonic() + 10
        while subprocess.run([tool("s6-svok"), self.svdir(name)]).returncode != 0:
            if time.monotonic() > deadline:
                raise pgward_env.HarnessError("s6-svscan did not start s6-supervise for pgward-"
                                              + name)
            time.sleep(0.05)
        p = subprocess.run([tool("s6-svwait"), "-U", "-t", str(int(timeout * 1000)),
                            self.svdir(name)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout + 10)
        if p.returncode != 0:
            raise pgward_env.HarnessError("pgward-%s not up and ready under s6 within %ds:\n%s"
                                          % (name, timeout, self.log_tail(name)))

    def log_tail(self, name, n=4000):
        try:
            with open(self.log_path(name), errors="replace") as f:
                return f.read()[-n:]
        except OSError as e:
            return str(e)

    def pid(self, name):
        out = subprocess.run([tool("s6-svstat"), "-o", "pid,ready", self.svdir(name)],
                             stdout=subprocess.PIPE, text=True, timeout=10).stdout.split()
        return int(out[0]), out[1] == "true"

    def stop(self):
        if self.svscan is not None:
            subprocess.run([tool("s6-svscanctl"), "-t", self.scan], timeout=10)
            try:
                self.svscan.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.svscan.pid, signal.SIGKILL)
                self.svscan.wait()
            self.svscan = None
        if self.out is not None:
            self.out.close()
            self.out = None
        self.kill_leftovers()

    def kill_leftovers(self):
        """Session processes of a relay killed with -9 outlive it until
        their clients leave; end ours (found by our config path)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if any(a.startswith(self.base.encode()) for a in argv) and \
                    os.path.basename(argv[0]).startswith(b"pgward-"):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
