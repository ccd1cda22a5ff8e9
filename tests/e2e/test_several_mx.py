# test_several_mx.py - several MX hosts (DESIGN §9, issue 11 item 12): two
# strictmxd with different hostnames deliver into one shared maildir tree
# at once, from parallel clients, without a name collision or a lost
# message (every message on disk, byte-checked); then `strictmxctl stats`
# and `sessions` with --db A --db B report both stats databases as one.

import os
import re
import signal
import subprocess
import threading
import json

PER_MX = 200            # messages per daemon
CLIENTS = 4             # parallel connections per daemon
PER_SESSION = 10        # transactions per connection
FNAME = re.compile(r"^\d+\.M\d+P(\d+)Q\d+\.(mx[12]\.test\.example),S=(\d+)$")


def body(mx, n):
    """The unique message n of daemon mx, LF line ends (as stored)."""
    return ("From: a@client.example\nTo: alice@test.example\n"
            "Subject: mx%d message %d\nMessage-ID: <%d.%d@client.example>\n"
            "\n" % (mx, n, mx, n)
            + "".join("mx%d message %d line %d .. %s\n"
                      % (mx, n, i, "x" * (n % 50)) for i in range(20)))


def send_many(m, mx, numbers, errors):
    try:
        for start in range(0, len(numbers), PER_SESSION):
            with m.connect(greeting=False, timeout=20) as c:
                c.expect(220)
                c.cmd("EHLO client.example", 250)
                for n in numbers[start:start + PER_SESSION]:
                    c.cmd("MAIL FROM:<a@client.example>", 250)
                    c.cmd("RCPT TO:<alice@test.example>", 250)
                    c.cmd("DATA", 354)
                    text = body(mx, n).replace("\n", "\r\n")
                    c.send(text.encode() + b".\r\n")
                    c.expect(250, timeout=20)
                c.cmd("QUIT", 221)
    except Exception as e:      # reported by the main thread
        errors.append("mx%d: %r" % (mx, e))


def test_two_daemons_one_maildir_tree(mx, tmp_path, strictmxctl_path):
    shared = tmp_path / "shared-mail"
    shared.mkdir()
    ms = [mx(hostname="mx%d.test.example" % i, maildir_root=str(shared))
          for i in (1, 2)]
    errors, threads = [], []
    for i, m in enumerate(ms, 1):
        nums = list(range(PER_MX))
        for k in range(CLIENTS):
            t = threading.Thread(target=send_many,
                                 args=(m, i, nums[k::CLIENTS], errors))
            threads.append(t)
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert errors == [], errors[:5]

    md = os.path.join(str(shared), "alice")
    assert os.listdir(os.path.join(md, "tmp")) == []
    names = os.listdir(os.path.join(md, "new"))
    assert len(names) == 2 * PER_MX, len(names)
    want = {(i, n): body(i, n).encode() for i in (1, 2)
            for n in range(PER_MX)}
    seen = {}
    pids = {"mx1.test.example": ms[0].pid, "mx2.test.example": ms[1].pid}
    for name in names:
        fm = FNAME.match(name)
        assert fm, name
        with open(os.path.join(md, "new", name), "rb") as f:
            data = f.read()
        assert int(fm.group(1)) == pids[fm.group(2)], name
        assert int(fm.group(3)) == len(data), name
        subj = re.search(rb"\nSubject: mx(\d) message (\d+)\n", data)
        assert subj, name
        key = (int(subj.group(1)), int(subj.group(2)))
        assert key not in seen, (name, seen.get(key))
        # the host that received it is the one that named the file
        assert fm.group(2) == "mx%d.test.example" % key[0], name
        assert data.endswith(want[key]), name
        assert (b"\tby mx%d.test.example (strictmx)" % key[0]) in data
        seen[key] = name
    assert set(seen) == set(want)

    # the stats of both hosts, merged: stop them (the batch is flushed)
    for m in ms:
        m.signal(signal.SIGTERM)
        assert m.wait(10) == 0
    dbs = []
    for m in ms:
        dbs += ["--db", m.stats_db]
    p = subprocess.run([strictmxctl_path, "sessions", "--last", "1000"]
                       + dbs, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    rows = p.stdout.splitlines()[1:]
    per = PER_MX // PER_SESSION
    assert len(rows) == 2 * per, p.stdout
    assert sum(int(r.split()[-4]) for r in rows) == 2 * PER_MX
    one = [subprocess.run([strictmxctl_path, "-d", m.stats_db, "stats",
                           "--json"], capture_output=True, text=True,
                          timeout=30) for m in ms]
    both = subprocess.run([strictmxctl_path, "stats", "--json"] + dbs,
                          capture_output=True, text=True, timeout=30)
    assert both.returncode == 0, both.stderr
    a, b, ab = (json.loads(x.stdout) for x in one + [both])

    def add(x, y):
        if isinstance(x, dict):
            return {k: add(x[k], y[k]) for k in x}
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return x + y
        return x
    # counts add up; percentages are recomputed, so compare counts only
    assert ab["sessions"] == 2 * per, ab
    flat = [(k, v) for k, v in ab.items() if isinstance(v, int)]
    assert len(flat) > 20, ab
    summed = add(a, b)
    for k, v in flat:
        assert v == summed[k], (k, v, summed[k])
