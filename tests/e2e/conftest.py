# conftest.py - pytest fixtures of the strictmx end-to-end tests: the daemon
# (mx), a DNS zone (dns), scripted remote MXes (remote_mx), SQLite rows.
#
# Run through tests/e2e/run.sh, which puts the whole suite in a private
# network, mount and PID namespace: the fixtures bind 127.0.0.1:53 and
# 127.0.0.x:25 and mount tmpfs, which they must never do on a real host.
#
#   mx(table=None, extra=None, start=True, verbose=False, env=None, **conf)
#       -> e2elib.Strictmxd, started; conf keys override the defaults
#          (listen 127.0.0.1:<free port>, hostname mx.test.example, domains
#          test.example other.example, policies off, cbv no); None drops a
#          key; teardown stops it and asserts exit 0, no sanitizer report
#          and every maildir's tmp/ empty
#   dns(records, timeout=(), servfail=()) -> e2elib.DnsZone on 127.0.0.1:53;
#       mx() started afterwards in the same test gets 'resolver 127.0.0.1'
#   remote_mx(ip='127.0.0.2', script=None, port=25) -> e2elib.RemoteMX
#   sqlite(path, sql, params=()) -> [dict]
#   tiny_fs(size='256k') -> path of a fresh tmpfs of that size

import os
import signal
import subprocess

import pytest

import e2elib

TEST_TIME_LIMIT = 90    # seconds; a hung test fails instead of hanging CI


def _in_private_netns():
    """Only 'lo' in /proc/net/dev (which shows the reader's namespace)."""
    try:
        with open("/proc/net/dev") as f:
            rows = f.read().splitlines()[2:]
    except OSError:
        return False
    return [r.split(":")[0].strip() for r in rows] == ["lo"]


def pytest_configure(config):
    if not _in_private_netns():
        pytest.exit("the strictmx e2e tests must run in a private network "
                    "namespace: use tests/e2e/run.sh", returncode=2)


def _binary(var, default):
    return os.path.abspath(os.environ.get(var) or default)


@pytest.fixture(scope="session")
def strictmxd_path():
    return _binary("STRICTMXD", "./smtpd/strictmxd")


@pytest.fixture(scope="session")
def strictmxctl_path():
    return _binary("STRICTMXCTL", "./smtpd/strictmxctl")


@pytest.fixture(autouse=True)
def _time_limit():
    """Fail (rather than hang) a test that runs past TEST_TIME_LIMIT."""
    def on_alarm(signum, frame):
        raise e2e_timeout("test exceeded %ds" % TEST_TIME_LIMIT)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class e2e_timeout(Exception):
    pass


@pytest.fixture
def _e2e_state():
    return {"resolver": None}


@pytest.fixture
def dns(tmp_path, _e2e_state):
    zones = []

    def factory(records, timeout=(), servfail=()):
        if zones:
            raise e2elib.HarnessError("one dns zone per test")
        z = e2elib.DnsZone(tmp_path, records, timeout=timeout,
                           servfail=servfail)
        zones.append(z)
        _e2e_state["resolver"] = z.resolver
        return z
    yield factory
    for z in zones:
        z.stop()


@pytest.fixture
def mx(tmp_path, strictmxd_path, _e2e_state):
    daemons = []

    def factory(table=None, extra=None, start=True, verbose=False, env=None,
                **conf):
        if not os.access(strictmxd_path, os.X_OK):
            pytest.fail("no strictmxd at %s (build it, or set STRICTMXD)"
                        % strictmxd_path)
        d = e2elib.Strictmxd(strictmxd_path,
                             tmp_path / ("mx%d" % len(daemons)),
                             resolver=_e2e_state["resolver"], verbose=verbose)
        if env:
            d.env.update(env)
        d.configure(table=table, extra=extra, **conf)
        daemons.append(d)
        if start:
            d.start()
        return d
    yield factory

    problems = []
    for d in daemons:
        if d.proc is None:
            continue
        if d.running():
            d.signal(signal.SIGTERM)
            try:
                rc = d.wait(10)
            except e2elib.HarnessError as e:
                problems.append(str(e))
                rc = None
            if rc is not None and rc != 0:
                problems.append("strictmxd exited %s after SIGTERM at "
                                "teardown\n%s" % (rc, d.log_tail()))
        san = d.sanitizer_reports()
        if san:
            problems.append("sanitizer report in the log:\n%s\n%s"
                            % ("\n".join(san[:10]), d.log_tail(80)))
        left = d.tmp_files()
        if left:
            problems.append("files left in tmp/: %s" % left)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def remote_mx():
    servers = []

    def factory(ip="127.0.0.2", script=None, port=25, host="remote.example"):
        s = e2elib.RemoteMX(ip, script, port, host)
        servers.append(s)
        return s
    yield factory
    for s in servers:
        s.stop()


@pytest.fixture
def sqlite():
    return e2elib.sqlite_rows


@pytest.fixture
def tiny_fs(tmp_path):
    """A tmpfs of a given size (only inside run.sh's mount namespace)."""
    mounted = []

    def factory(size="256k", name="tiny"):
        if os.environ.get("STRICTMX_E2E_MOUNTNS") != "1":
            pytest.skip("needs the private mount namespace of run.sh")
        path = tmp_path / name
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=%s,mode=0755" % size, "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount tmpfs: %s" % r.stderr.strip())
        mounted.append(path)
        return path
    yield factory
    for p in mounted:
        subprocess.run(["umount", "-l", str(p)], capture_output=True)
