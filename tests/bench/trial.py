#!/usr/bin/env python3
# trial.py - one measured load for bench.sh: runs smtp-source against one
# server and times it until the last message is in a maildir, sampling the
# memory of the server's process tree, and checks in a strictmxd log that
# SPF, DKIM and DMARC ran (or did not); the DKIM-signed message the load
# sends; and the summary table of a run.
#
#   trial.py run --server S --load L --rep N --root PID --maildirs DIR
#                --msgs N --expect FILES --timeout SEC --out FILE
#                [--spf-log LOG --spf-expect pass|none [--spf-domain D]]
#                [--auth-log LOG --auth-expect pass|none [--auth-domain D]
#                 [--authserv-id ID]]
#                -- smtp-source ...
#       appends one result line (key=value ...) to FILE and prints it:
#       times, the peak memory and the CPU time of the process tree of
#       PID; exit 0 when every file arrived in time (and the log checks
#       hold), 1 otherwise. With --spf-log, the lines LOG gained during
#       the trial must show, with --spf-expect pass, one SPF evaluation
#       "spf=pass identity=mailfrom domain=D" per message (in MSGS distinct
#       sessions) and no other SPF result; with none, no SPF evaluation.
#       With --auth-log and --auth-expect pass, the same for the DKIM and
#       DMARC line of each message ("dkim=pass:D dmarc=pass from_domain=D
#       policy=reject disposition=none action=deliver", nothing else), and
#       every file delivered must carry, in the fields strictmxd put on
#       top, an "Authentication-Results: ID;" with dkim=pass and
#       dmarc=pass; with none, no DKIM/DMARC line at all.
#   trial.py message --key PEM --txt RECORD --domain D --selector S
#                --size N --out FILE
#       writes the message every load sends (smtp-source -F FILE): From:
#       sender@D, a body of about N bytes, signed by dkimpy (rsa-sha256,
#       relaxed/relaxed) with the key PEM as S._domainkey.D; LF line ends
#       (smtp-source sends CRLF). Exit 1 unless dkimpy itself verifies the
#       bytes smtp-source will send against RECORD.
#   trial.py fsync DIR
#       prints the latency of 200 serial 4 KiB write+fsync in DIR: what
#       one durable delivery step costs on this disk at this moment.
#   trial.py ceiling DIR --writers N --seconds S [--out FILE --rep R]
#                [--trash T]
#       the durable-delivery ceiling: N processes loop on open tmp/NAME,
#       write 4 KiB, fsync, rename into new/, fsync new/ for S seconds;
#       prints (and appends to FILE) the operations per second.
#   trial.py plain --size N --domain D --out FILE
#       writes an unsigned message from sender@D with about N body bytes.
#   trial.py responder --listen ADDR:PORT --count FILE
#       a scripted MX for call-back probes: 250 to everything; FILE holds
#       the number of connections it saw.
#   trial.py cbvstat DB
#       prints the call-back rows of a stats database, by decision.
#   trial.py summary FILE
#       prints the per-run table, the medians and the ratios
#       strictmx/postfix, smx-all/strictmx (the cost of SPF, DKIM and DMARC
#       together) and smx-spf/strictmx (the cost of SPF); exit 0.
#
# Why "until the last message is in a maildir": Postfix answers 250 once the
# queue file is fsynced and delivers later; strictmx answers 250 only after
# the maildir file (and the directory) are fsynced. Only the time to the last
# delivered file measures the same work for both. The SMTP phase (until
# smtp-source exits) is printed too, for what it is.

import glob
import os
import re
import statistics
import subprocess
import sys
import time

POLL_COUNT = 0.02	# seconds between maildir counts
POLL_MEM = 0.2		# seconds between memory samples
LOG_SETTLE = 2.0	# seconds a log may lag behind the last delivery

SERVERS = ("strictmx", "postfix", "smx-pol", "smx-base", "smx-mem",
           "smx-all", "smx-spf")
# the one line strictmxd logs per message when DKIM or DMARC is on
AUTH_LINE = re.compile(r" session=(\S+) client=\S+ dkim=(\S+) dmarc=(\S+) "
                       r"from_domain=(\S*) policy=(\S+) disposition=(\S+) "
                       r"action=(\S+)")
ALL_TARGET = 0.75	# issue 9: every policy on within 25 % of policies-off
SPF_TARGET = 0.80	# issue 8: SPF on within 20 % of policies-off
CEIL_TARGET = 0.80	# issue 10: 80 % of the ceiling of as many writers
CPU_TARGET = 0.50	# issue 10: at most half of today's CPU per message
POL_TARGET = 0.70	# issue 10: HELO and sender policies on, warm cache
# the line strictmxd logs for each SPF evaluation
SPF_LINE = re.compile(r" session=(\S+) .*\bspf=([a-z]+) identity=([a-z]+) "
                      r"domain=(\S+)")


def proc_tree(root):
    """root and all its descendants, from /proc/*/stat."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: skip past it
        fields = st[st.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(d))
    out = [root]
    i = 0
    while i < len(out):
        out.extend(children.get(out[i], ()))
        i += 1
    return out


def tree_cpu(root):
    """{pid: utime+stime ticks} of the tree, and the root's cutime+cstime
    (its reaped children: Postfix's master reaps an smtpd that has served
    max_use clients, and a trial outlives several)."""
    ticks, reaped = {}, 0
    for pid in proc_tree(root):
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        ticks[pid] = int(fields[11]) + int(fields[12])
        if pid == root:
            reaped = int(fields[13]) + int(fields[14])
    return ticks, reaped


def cpu_used(before, after):
    """CPU seconds the tree spent between two tree_cpu() snapshots: what the
    live processes added, plus the reaped children minus what those had
    already spent before."""
    (t0, r0), (t1, r1) = before, after
    used = sum(v - t0.get(pid, 0) for pid, v in t1.items())
    used += (r1 - r0) - sum(v for pid, v in t0.items() if pid not in t1)
    return used / os.sysconf("SC_CLK_TCK")


def tree_memory(root):
    """(sum of Rss, sum of Pss, sum of Private_* in kB, number of
    processes) of the tree."""
    rss = pss = uss = n = 0
    for pid in proc_tree(root):
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Private_"):
                        uss += int(line.split()[1])
            n += 1
        except (OSError, ValueError):
            continue	# exited between the scan and the read
    return rss, pss, uss, n


def vm_hwm(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tcp_counters():
    """RetransSegs and ListenDrops of this network namespace: on loopback
    both should stay 0, and a trial with either was slowed by TCP."""
    got = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for names, values in zip(lines[0::2], lines[1::2]):
            for k, v in zip(names.split()[1:], values.split()[1:]):
                got[k] = int(v) if v.lstrip("-").isdigit() else 0
    return got.get("RetransSegs", 0), got.get("ListenDrops", 0)


def delivered(maildirs):
    """The paths of the files in the new/ directories below maildirs."""
    for d in glob.glob(os.path.join(maildirs, "*", "new")):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            yield os.path.join(d, n)


def count_new(maildirs):
    return sum(1 for _ in delivered(maildirs))


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


SPF_LOOKUPS = re.compile(r" lookups=([0-9]+)")


def spf_seen(path, offset, domain):
    """(passes for domain in distinct sessions, other SPF results, the
    largest lookups= count of those passes) in the lines of path after
    offset."""
    sessions, other, lookups = set(), 0, 0
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return 0, 0
    for line in data.splitlines():
        m = SPF_LINE.search(line)
        if not m:
            continue
        if m.group(2) == "pass" and m.group(3) == "mailfrom" and \
                m.group(4) == domain:
            sessions.add(m.group(1))
            n = SPF_LOOKUPS.search(line)
            if n:
                lookups = max(lookups, int(n.group(1)))
        else:
            other += 1
    return len(sessions), other, lookups


def auth_seen(path, offset, domain):
    """(messages in distinct sessions whose DKIM and DMARC line says what
    the bench's signed message must get: one DKIM pass for domain, a DMARC
    pass under its p=reject, delivered; any other DKIM/DMARC lines) in the
    lines of path after offset."""
    sessions, other = set(), 0
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return 0, 0
    want = ("pass:" + domain, "pass", domain, "reject", "none", "deliver")
    for line in data.splitlines():
        m = AUTH_LINE.search(line)
        if not m:
            continue
        if m.groups()[1:] == want and m.group(1) not in sessions:
            sessions.add(m.group(1))
        else:
            other += 1
    return len(sessions), other


HEAD_MAX = 65536	# bytes of a delivered file searched for our fields


def authres_seen(maildirs, authserv_id):
    """(files, files whose top carries our Authentication-Results with
    dkim=pass and dmarc=pass) in the new/ directories below maildirs. Our
    fields are those above the message's own first field, its
    DKIM-Signature (the bench's message starts with it)."""
    files = good = 0
    want = ("authentication-results: %s;" % authserv_id).encode()
    for path in delivered(maildirs):
        try:
            with open(path, "rb") as f:
                head = f.read(HEAD_MAX)
        except OSError:
            continue
        files += 1
        top = head.split(b"\nDKIM-Signature:", 1)[0]
        if top.startswith(b"DKIM-Signature:"):
            continue	# nothing of ours on top
        # unfold (RFC 5322 2.2.3), then one field a line
        top = re.sub(rb"\r?\n[ \t]+", b" ", top).lower()
        for field in top.splitlines():
            if field.startswith(want) and \
                    re.search(rb"[; ]dkim=pass[ ;]", field + b";") and \
                    re.search(rb"[; ]dmarc=pass[ ;]", field + b";"):
                good += 1
                break
    return files, good


def header_section(domain, subject, num, eol):
    """The header fields of a bench message from sender@domain, and the
    empty line after them, each line ended by eol."""
    return eol.join(("From: Bench Sender <sender@%s>" % domain,
                     "To: user@bench.example",
                     "Subject: strictmx benchmark, %s" % subject,
                     "Date: Sun, 06 Dec 2026 12:00:00 +0000",
                     "Message-ID: <bench.%d@%s>" % (num, domain),
                     "MIME-Version: 1.0",
                     "Content-Type: text/plain; charset=us-ascii",
                     "", ""))


def message(argv):
    """The signed message of the loads (see the top of this file)."""
    import dkim	# python3-dkim; only this subcommand needs it
    keyfile, txt = opt(argv, "--key"), opt(argv, "--txt")
    domain, sel = opt(argv, "--domain"), opt(argv, "--selector")
    size, out = int(opt(argv, "--size")), opt(argv, "--out")
    head = header_section(domain, "DKIM-signed", 1, "\r\n")
    # about size bytes of body in lines of 64 bytes, like smtp-source -l
    line = "La de da de da %04d. " * 3
    body, i = [], 0
    while sum(len(b) for b in body) < size:
        body.append((line % (i, i + 1, i + 2)).rstrip()[:74] + "\r\n")
        i += 3
    msg = (head + "".join(body)).encode()
    with open(keyfile, "rb") as f:
        priv = f.read()
    sig = dkim.sign(msg, sel.encode(), domain.encode(), priv,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date",
                                     b"message-id", b"mime-version",
                                     b"content-type"])
    signed = sig + msg
    # what smtp-source -F sends: each line with CRLF, and one empty line
    # more before the dot (DKIM ignores trailing empty lines, 3.4.3/3.4.4)
    wire = signed + b"\r\n"
    name = ("%s._domainkey.%s." % (sel, domain)).encode()

    def dns(qname, timeout=5):
        return txt.encode() if qname == name else None
    if not dkim.verify(wire, dnsfunc=dns, minkey=2048):
        sys.exit("trial.py: dkimpy does not verify its own signature")
    with open(out, "wb") as f:
        f.write(signed.replace(b"\r\n", b"\n"))
    print("%d bytes, %d of body; %s" % (len(signed), len(msg) - len(head),
                                        sig.split(b";")[0].decode()))
    return 0


def plain(argv):
    """The unsigned message of the disk matrix (see the top of this file):
    lines of 72 bytes plus LF, each numbered, so that a file cut short or
    with a line lost or doubled does not end with the same bytes."""
    size, out = int(opt(argv, "--size")), opt(argv, "--out")
    head = header_section(opt(argv, "--domain"), "%d bytes of body" % size,
                          size, "\n")
    body, n, i = [], 0, 0
    while n < size:
        line = ("%06d %s" % (i, "The quick brown fox jumps over the lazy "
                             "dog, again and again." * 2))[:72] + "\n"
        body.append(line)
        n += len(line)
        i += 1
    with open(out, "w") as f:
        f.write(head + "".join(body))
    print("%d bytes, %d of body in %d lines" % (len(head) + n, n, i))
    return 0


def body_tail(path):
    """The bytes every delivered copy of the message file at path must end
    with: its body as stored in a maildir (LF line ends, as the file),
    followed by the empty line smtp-source -F sends before the dot."""
    with open(path, "rb") as f:
        data = f.read()
    return data.split(b"\n\n", 1)[1] + b"\n"


def bodies_seen(maildirs, tail):
    """(files, files that end with tail) in the new/ directories below
    maildirs: one seek and one read of len(tail) bytes per file."""
    files = good = 0
    for path in delivered(maildirs):
        files += 1
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() < len(tail):
                    continue
                f.seek(-len(tail), os.SEEK_END)
                if f.read() == tail:
                    good += 1
        except OSError:
            continue
    return files, good


CBV_SETTLE = 4.0	# seconds the stats database may lag (flushed each 1 s)


def cbv_seen(db, since):
    """(sender verdicts "pass" decided by the CBV cache, any other
    verdicts) in the cbv table of strictmxd's stats database since the wall
    clock time since; (-1, -1) when the database cannot be read now."""
    import sqlite3
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=2)
        try:
            got = con.execute("SELECT decided_by = 'cache' AND "
                              "outcome = 'pass', count(*) FROM cbv "
                              "WHERE time >= ? GROUP BY 1",
                              (since,)).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return -1, -1
    got = dict(got)
    return got.get(1, 0), got.get(0, 0)


def read_count(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def responder(argv):
    """The sender domain's MX for smx-pol's call-back probes: 220, then 250
    to every command but QUIT (221) and DATA (554: a probe never sends
    one); counts the connections in --count FILE (rewritten whole at each
    connection). Runs until killed."""
    import asyncio
    host, port = opt(argv, "--listen").rsplit(":", 1)
    count_file = opt(argv, "--count")
    state = {"n": 0}

    def bump():
        state["n"] += 1
        tmp = count_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % state["n"])
        os.rename(tmp, count_file)

    async def serve(reader, writer):
        bump()
        try:
            writer.write(b"220 mx.sender.example ESMTP bench responder\r\n")
            for _ in range(100):	# a probe sends 5 commands
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    break
                if verb == b"DATA":
                    writer.write(b"554 5.5.1 no data here\r\n")
                else:
                    writer.write(b"250 2.0.0 ok\r\n")
                await writer.drain()
            await writer.drain()
        except (asyncio.TimeoutError, OSError, ValueError):
            pass
        writer.close()

    async def main_loop():
        server = await asyncio.start_server(serve, host, int(port))
        async with server:
            await server.serve_forever()
    bump_file = count_file
    with open(bump_file, "w") as f:
        f.write("0\n")
    asyncio.run(main_loop())
    return 0


def ceiling(argv):
    """The durable-delivery ceiling of the filesystem of DIR: WRITERS
    forked processes, each looping on what a maildir delivery must do at
    least (open tmp/NAME O_CREAT|O_EXCL, write 4096 bytes, fsync, close,
    rename into new/, fsync new/), for SECONDS, all in the same DIR/tmp
    and DIR/new. Prints, and with --out appends, the operations per
    second completed in the window. With --trash T, new/ and tmp/ are
    moved into T afterwards instead of emptied."""
    d = argv[0]
    writers = int(opt(argv, "--writers"))
    seconds = float(opt(argv, "--seconds"))
    out, rep = opt(argv, "--out", ""), opt(argv, "--rep", "0")
    tmp, new = os.path.join(d, "tmp"), os.path.join(d, "new")
    os.makedirs(tmp, exist_ok=True)
    os.makedirs(new, exist_ok=True)
    data = b"x" * 4095 + b"\n"
    t_start = time.monotonic() + 0.3 + 0.02 * writers	# all forked by then
    t_end = t_start + seconds
    rfd, wfd = os.pipe()
    pids = []
    for _ in range(writers):
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            n = 0
            try:
                me = os.getpid()
                dfd = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
                time.sleep(max(0.0, t_start - time.monotonic()))
                while True:
                    name = "%d.%d.ceiling" % (me, n)
                    src = os.path.join(tmp, name)
                    fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                 0o600)
                    os.write(fd, data)
                    os.fsync(fd)
                    os.close(fd)
                    os.rename(src, os.path.join(new, name))
                    os.fsync(dfd)
                    if time.monotonic() > t_end:
                        break	# this one ended after the window
                    n += 1
                os.write(wfd, b"%d\n" % n)
            except OSError:
                os.write(wfd, b"-1\n")
            os._exit(0)
        pids.append(pid)
    os.close(wfd)
    late = time.monotonic() > t_start
    with os.fdopen(rfd) as f:
        counts = [int(x) for x in f.read().split()]
    for pid in pids:
        os.waitpid(pid, 0)
    ok = len(counts) == writers and min(counts) >= 0 and not late
    total = sum(c for c in counts if c > 0)
    # Moved aside, not unlinked (see clear_maildirs in bench.sh): freeing
    # the inodes would slow down the next minute of inode allocations.
    trash = opt(argv, "--trash", "")
    for sub in (new, tmp):
        if trash:
            os.makedirs(trash, exist_ok=True)
            os.rename(sub, os.path.join(trash, "ceiling.%d.%s" % (
                time.monotonic_ns(), os.path.basename(sub))))
        else:
            for name in os.listdir(sub):
                os.unlink(os.path.join(sub, name))
    rate = total / seconds if ok else 0.0
    line = ("server=ceiling-%d load=ceiling rep=%s msgs=%d files=%d/%d ok=%d "
            "smtp_s=%.3f total_s=%.3f msg_per_s=%.1f rss_kb=0 pss_kb=0 "
            "uss_kb=0 hwm_kb=0 procs=%d cpu_s=0 cpu_ms_per_msg=0 "
            "loadavg=%.2f retrans=0 listendrops=0 writers=%d min=%d max=%d"
            % (writers, rep, total, total, total, int(ok), seconds, seconds,
               rate, writers, os.getloadavg()[0], writers,
               min(counts) if counts else -1, max(counts) if counts else -1))
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")
    print(line, flush=True)
    return 0 if ok else 1


def opt(argv, name, default=None):
    if name in argv:
        return argv[argv.index(name) + 1]
    if default is None:
        sys.exit("trial.py: missing %s" % name)
    return default


def run(argv):
    sep = argv.index("--")
    opts, cmd = argv[:sep], argv[sep + 1:]
    server, load = opt(opts, "--server"), opt(opts, "--load")
    rep, root = opt(opts, "--rep"), int(opt(opts, "--root"))
    maildirs, expect = opt(opts, "--maildirs"), int(opt(opts, "--expect"))
    timeout, out = float(opt(opts, "--timeout")), opt(opts, "--out")
    msgs = int(opt(opts, "--msgs"))
    spf_log = opt(opts, "--spf-log", "")
    spf_expect = opt(opts, "--spf-expect", "none")
    spf_domain = opt(opts, "--spf-domain", "client.example")
    spf_offset = file_size(spf_log) if spf_log else 0
    auth_log = opt(opts, "--auth-log", "")
    auth_expect = opt(opts, "--auth-expect", "none")
    auth_domain = opt(opts, "--auth-domain", "client.example")
    authserv_id = opt(opts, "--authserv-id", "mx.bench.example")
    auth_offset = file_size(auth_log) if auth_log else 0
    body_file = opt(opts, "--body", "")
    cbv_db = opt(opts, "--cbv-db", "")
    probe_count = opt(opts, "--probe-count", "")
    probes0 = read_count(probe_count) if probe_count else 0
    wall0 = time.time()

    peak_rss = peak_pss = peak_uss = peak_n = 0
    log = open(out + ".smtp-source.log", "ab")
    tcp0 = tcp_counters()
    load0 = os.getloadavg()[0]
    cpu0 = tree_cpu(root)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log)
    smtp_end = done_at = None
    next_mem = t0
    files = 0
    while True:
        now = time.monotonic()
        if smtp_end is None and proc.poll() is not None:
            smtp_end = now
        files = count_new(maildirs)
        if files >= expect and done_at is None:
            done_at = now
        if now >= next_mem:
            rss, pss, uss, n = tree_memory(root)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            peak_uss, peak_n = max(peak_uss, uss), max(peak_n, n)
            next_mem = now + POLL_MEM
        if smtp_end is not None and done_at is not None:
            break
        if now - t0 > timeout:
            break
        time.sleep(POLL_COUNT)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    rss, pss, uss, n = tree_memory(root)
    peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
    peak_uss = max(peak_uss, uss)
    tcp1 = tcp_counters()
    cpu = cpu_used(cpu0, tree_cpu(root))
    ok = smtp_end is not None and done_at is not None and \
        proc.returncode == 0
    end = max(smtp_end or 0, done_at or 0) if ok else time.monotonic()
    spf_pass = spf_other = spf_lookups = -1
    if spf_log:
        # every SPF line precedes its session's 250 to DATA, so all of
        # them should be there already; the wait only covers slow writes
        settle = time.monotonic() + LOG_SETTLE
        while True:
            spf_pass, spf_other, spf_lookups = spf_seen(spf_log, spf_offset,
                                                        spf_domain)
            want = msgs if spf_expect == "pass" else 0
            if spf_pass >= want or time.monotonic() >= settle:
                break
            time.sleep(0.1)
        if spf_expect == "pass":
            spf_ok = spf_pass == msgs and spf_other == 0
        else:
            spf_ok = spf_pass == 0 and spf_other == 0
        ok = ok and spf_ok
    auth_pass = auth_other = ar_files = ar_good = -1
    if auth_log:
        # the line precedes the 250 to the dot, like SPF's
        settle = time.monotonic() + LOG_SETTLE
        while True:
            auth_pass, auth_other = auth_seen(auth_log, auth_offset,
                                              auth_domain)
            want = msgs if auth_expect == "pass" else 0
            if auth_pass >= want or time.monotonic() >= settle:
                break
            time.sleep(0.1)
        if auth_expect == "pass":
            ar_files, ar_good = authres_seen(maildirs, authserv_id)
            auth_ok = auth_pass == msgs and auth_other == 0 and \
                ar_files == expect and ar_good == expect
        else:
            auth_ok = auth_pass == 0 and auth_other == 0
        ok = ok and auth_ok
    body_good = body_files = -1
    if body_file:
        body_files, body_good = bodies_seen(maildirs, body_tail(body_file))
        ok = ok and body_files == expect and body_good == expect
    cbv_cache = cbv_other = probes = -1
    if cbv_db:
        # the rows are flushed to the database once a second
        settle = time.monotonic() + CBV_SETTLE
        while True:
            cbv_cache, cbv_other = cbv_seen(cbv_db, wall0)
            if cbv_cache >= msgs or time.monotonic() >= settle:
                break
            time.sleep(0.2)
        probes = read_count(probe_count) - probes0 if probe_count else 0
        ok = ok and cbv_cache == msgs and cbv_other == 0 and probes == 0
    total = end - t0
    smtp = (smtp_end or end) - t0
    line = ("server=%s load=%s rep=%s msgs=%d files=%d/%d ok=%d "
            "smtp_s=%.3f total_s=%.3f msg_per_s=%.1f rss_kb=%d pss_kb=%d "
            "uss_kb=%d "
            "hwm_kb=%d procs=%d cpu_s=%.2f cpu_ms_per_msg=%.3f loadavg=%.2f "
            "retrans=%d listendrops=%d smtp_source_rc=%s spf_expect=%s "
            "spf_pass=%d spf_other=%d spf_lookups=%d auth_expect=%s "
            "auth_pass=%d auth_other=%d authres_good=%d/%d "
            "body_good=%d/%d cbv_cache=%d cbv_other=%d probes=%d"
            % (server, load, rep, msgs, files, expect, int(ok), smtp, total,
               msgs / total if ok else 0.0, peak_rss, peak_pss, peak_uss,
               vm_hwm(root), peak_n, cpu, 1000 * cpu / msgs, load0,
               tcp1[0] - tcp0[0], tcp1[1] - tcp0[1],
               proc.returncode, spf_expect if spf_log else "-",
               spf_pass, spf_other, spf_lookups,
               auth_expect if auth_log else "-", auth_pass, auth_other,
               ar_good, ar_files, body_good, body_files, cbv_cache,
               cbv_other, probes))
    with open(out, "a") as f:
        f.write(line + "\n")
    print(line, flush=True)
    return 0 if ok else 1


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = dict(w.split("=", 1) for w in line.split())
            rows.append(kv)
    return rows


def mem_of(r):
    """The memory figure asked for: strictmxd is one process and its VmHWM
    is its peak; Postfix is many, so the peak of their sampled Rss sum."""
    return int(r["rss_kb"] if r["server"] == "postfix" else r["hwm_kb"])


def spf_col(r):
    """What the trial's SPF check saw: passes/other results, or - when the
    server's log was not checked."""
    if r.get("spf_expect", "-") == "-":
        return "-"
    return "%s/%s" % (r["spf_pass"], r["spf_other"])


def auth_col(r):
    """What the trial's DKIM/DMARC check saw: messages with dkim=pass and
    dmarc=pass/other lines, or - when the server's log was not checked."""
    if r.get("auth_expect", "-") == "-":
        return "-"
    return "%s/%s" % (r["auth_pass"], r["auth_other"])


def body_col(r):
    """Delivered files that end with the body sent/files, or -."""
    if r.get("body_good", "-1/-1").startswith("-1"):
        return "-"
    return r["body_good"]


def cbv_col(r):
    """smx-pol: cache passes/other verdicts/probes, or -."""
    if r.get("cbv_cache", "-1") == "-1":
        return "-"
    return "%s/%s/%s" % (r["cbv_cache"], r["cbv_other"], r["probes"])


def medians(rows, load, server):
    """The figures of one server under one load over its good trials:
    medians of the rates and CPU, peaks of the memory; None if none."""
    rs = [r for r in rows if r["load"] == load and
          r["server"] == server and r["ok"] == "1"]
    if not rs:
        return None
    return (statistics.median(float(r["msg_per_s"]) for r in rs),
            statistics.median(int(r["msgs"]) / float(r["smtp_s"])
                              for r in rs),
            statistics.median(float(r["cpu_ms_per_msg"]) for r in rs),
            max(mem_of(r) for r in rs),
            max(int(r["pss_kb"]) for r in rs),
            max(int(r["uss_kb"]) for r in rs),
            len(rs))


def paired(rows, a, b):
    """The median over the repetitions where both a and b succeeded of
    a's msg/s / b's, a and b each a (load, server): each pair ran within
    seconds or minutes of each other, so a change in the host's load
    between repetitions cancels out."""
    rate = {}
    for r in rows:
        if r["ok"] == "1" and (r["load"], r["server"]) in (a, b):
            rate[((r["load"], r["server"]), r["rep"])] = \
                float(r["msg_per_s"])
    q = [rate[(a, rep)] / rate[(b, rep)] for (x, rep) in list(rate)
         if x == b and (a, rep) in rate and rate[(b, rep)]]
    return statistics.median(q) if q else None


def cost_lines(rows, loads, got_by_load, a, what, target, flag):
    """The ratio a/strictmx of msg/s, as ratio of medians and paired, with
    the issue's target; flag is the key= of a trial that shows a really
    evaluated its policies (else the ratio is only noise, said so)."""
    cost = []
    for load in loads:
        got = got_by_load[load]
        if a in got and "strictmx" in got and got["strictmx"][0]:
            cost.append((load, got[a][0] / got["strictmx"][0],
                         paired(rows, (load, a), (load, "strictmx"))))
    if not cost:
        return
    print()
    if not any(r["server"] == a and r.get(flag) == "pass" for r in rows):
        print("%s evaluated no %s in this run: its ratio to strictmx is "
              "only the noise between two identical servers" % (a, what))
        return
    print("%s cost, paired: the median over the repetitions of %s / "
          "strictmx in the same repetition: " % (what, a) +
          ", ".join("%s %s" % (c[0], "%.3f" % c[2] if c[2] else "-")
                    for c in cost))
    print("%s cost: msg/s of %s / strictmx (ratio of medians): " % (what, a) +
          ", ".join("%s %.3f" % c[:2] for c in cost) +
          " (target >= %.2f: %s)" % (target, "met" if all(
              c[1] >= target for c in cost) else "NOT met"))


def sessions_of(load):
    """N of a matrix load sN-..., else None."""
    m = re.match(r"s([0-9]+)-", load)
    return int(m.group(1)) if m else None


# the ratio lines of a load: (a, b, what the ratio is of); a and b are
# servers, "ceiling" is the ceiling of as many writers as sessions
RATIOS = (("strictmx", "ceiling", "msg/s only"),
          ("strictmx", "postfix", ""),
          ("smx-pol", "strictmx", ""),
          ("strictmx", "smx-base", ""),
          ("strictmx", "smx-mem", ""),
          ("smx-all", "strictmx", ""),
          ("smx-spf", "strictmx", ""))
TARGET_LOAD1 = "s1-1k-1r"
TARGET_LOAD20 = "s20-1k-1r"


def summary(argv):
    rows = parse(argv[0])
    loads = []
    for r in rows:
        if r["load"] not in loads and r["load"] != "ceiling":
            loads.append(r["load"])
    fmt = ("%-10s %-11s %3s %5s %7s %7s %7s %6s %6s %6s %6s %4s %4s %4s "
           "%9s %9s %11s %11s %2s")
    print(fmt % ("server", "load", "rep", "msgs", "smtp_s", "total_s",
                 "msg/s", "cpu_ms", "mem_kB", "pss_kB", "uss_kB", "proc",
                 "retr", "ldav", "spf", "dkim+dmarc", "body", "cbv", "ok"))
    for r in rows:
        print(fmt % (r["server"], r["load"], r["rep"], r["msgs"],
                     r["smtp_s"], r["total_s"], r["msg_per_s"],
                     r["cpu_ms_per_msg"], mem_of(r), r["pss_kb"],
                     r["uss_kb"], r["procs"], r["retrans"],
                     "%.1f" % float(r["loadavg"]), spf_col(r), auth_col(r),
                     body_col(r), cbv_col(r), r["ok"]))
    print()
    print("medians over the good trials (memory: the peak); ratio a/b = "
          "a's figure / b's; paired = median of a/b within a repetition")
    fmt = "%-11s %-18s %9s %10s %10s %8s %8s %8s %6s %7s"
    print(fmt % ("load", "server", "msg/s", "smtp msg/s", "cpu ms/msg",
                 "mem_kB", "pss_kB", "uss_kB", "trials", "paired"))
    all_ok = all(r["ok"] == "1" for r in rows)
    got_by_load = {}
    ceil = {}
    for r in rows:
        if r["load"] == "ceiling":
            ceil.setdefault(r["server"], medians(rows, "ceiling",
                                                 r["server"]))
    figures = {}	# (load, a, b) -> (ratio of medians, paired) of msg/s
    for load in loads:
        got = got_by_load[load] = {}
        for server in SERVERS:
            g = medians(rows, load, server)
            if g is None:
                continue
            got[server] = g
            print((fmt % (load, server, "%.1f" % g[0], "%.1f" % g[1],
                          "%.3f" % g[2], g[3], g[4], g[5], g[6],
                          "")).rstrip())
        n = sessions_of(load)
        cname = "ceiling-%d" % n if n else None
        if cname and ceil.get(cname):
            got["ceiling"] = ceil[cname]
            print((fmt % (load, cname, "%.1f" % ceil[cname][0], "-", "-",
                          "-", "-", "-", ceil[cname][6], "")).rstrip())
        for a, b, _ in RATIOS:
            if a not in got or b not in got:
                continue
            bkey = ("ceiling", cname) if b == "ceiling" else (load, b)
            pr = paired(rows, (load, a), bkey)
            name = a + "/" + (cname if b == "ceiling" else b)
            ratio = [("%.3f" % (x / y)) if y else "-"
                     for x, y in zip(got[a][:6], got[b][:6])]
            if b == "ceiling":
                ratio = ratio[:1] + ["-"] * 5
            figures[(load, a, b)] = (got[a][0] / got[b][0]
                                     if got[b][0] else None, pr)
            print(fmt % tuple([load, name] + ratio +
                              ["", "%.3f" % pr if pr else "-"]))
    looks = sorted({int(r.get("spf_lookups", -1)) for r in rows
                    if r["server"] in ("smx-all", "smx-spf") and
                    r["ok"] == "1" and r.get("spf_expect") == "pass"})
    if looks:
        print()
        print("SPF DNS-querying terms per evaluation (lookups= in the "
              "logs, RFC 7208 4.6.4; the most in one trial): %s"
              % ", ".join(map(str, looks)))
    auth_loads = [ld for ld in loads if ld.startswith("auth-")]
    cost_lines(rows, auth_loads, got_by_load, "smx-all", "SPF+DKIM+DMARC",
               ALL_TARGET, "auth_expect")
    cost_lines(rows, auth_loads, got_by_load, "smx-spf", "SPF", SPF_TARGET,
               "spf_expect")
    if not all_ok:
        print("\nWARNING: some trials failed (ok=0: files missing or not "
              "ending with the body sent, smtp-source failed, or a log, "
              "header or CBV check did not hold); they are left out of the "
              "medians")
    targets(figures, got_by_load, argv[1:])
    return 0


def targets(figures, got_by_load, argv):
    """The targets block of issue 10: each figure, its target, met or NOT
    met. A throughput target is met only when both the ratio of the
    medians and the paired ratio reach it."""
    baseline = "--baseline" in argv

    def both(label, key, target):
        f = figures.get(key)
        if f is None or f[0] is None:
            print("%s: not measured in this run (target >= %.2f): NOT met"
                  % (label, target))
            return
        rm, pr = f
        met = rm >= target and pr is not None and pr >= target
        print("%s: %.3f (paired %s), target >= %.2f: %s"
              % (label, rm, "%.3f" % pr if pr is not None else "-", target,
                 "met" if met else "NOT met"))
    print()
    print("targets (issue 10)")
    both("(a) 1 session 1 KiB 1 rcpt, strictmx/ceiling-1 msg/s",
         (TARGET_LOAD1, "strictmx", "ceiling"), CEIL_TARGET)
    serial_bound(got_by_load.get(TARGET_LOAD1, {}))
    both("(b) 20 sessions 1 KiB 1 rcpt, strictmx/ceiling-20 msg/s",
         (TARGET_LOAD20, "strictmx", "ceiling"), CEIL_TARGET)
    got = got_by_load.get(TARGET_LOAD20, {})
    if all(k in got and got[k][0] for k in ("smx-mem", "ceiling")):
        print("    the dialogue alone (smx-mem, tmpfs, fsync free): %.0f "
              "msg/s = %.3f of ceiling-20: with this client on this host "
              "no server gets further, whatever its disk path"
              % (got["smx-mem"][0], got["smx-mem"][0] / got["ceiling"][0]))
    label = "(c) 20 sessions 1 KiB 1 rcpt, cpu ms/msg strictmx/smx-base"
    if not baseline:
        print("%s: no baseline given (STRICTMXD_BASELINE), target <= %.2f"
              % (label, CPU_TARGET))
    elif "strictmx" in got and "smx-base" in got and got["smx-base"][2]:
        c = got["strictmx"][2] / got["smx-base"][2]
        print("%s: %.3f (%.3f / %.3f ms), target <= %.2f: %s"
              % (label, c, got["strictmx"][2], got["smx-base"][2],
                 CPU_TARGET, "met" if c <= CPU_TARGET else "NOT met"))
        if "smx-mem" in got:
            print("    the dialogue alone (smx-mem) costs %.3f ms = %.3f "
                  "of smx-base; the durable delivery adds %.3f ms to "
                  "strictmx, %.3f to smx-base"
                  % (got["smx-mem"][2], got["smx-mem"][2] /
                     got["smx-base"][2], got["strictmx"][2] -
                     got["smx-mem"][2], got["smx-base"][2] -
                     got["smx-mem"][2]))
    else:
        print("%s: not measured in this run (target <= %.2f): NOT met"
              % (label, CPU_TARGET))
    both("(d) 20 sessions 1 KiB 1 rcpt, smx-pol/strictmx msg/s",
         (TARGET_LOAD20, "smx-pol", "strictmx"), POL_TARGET)


def serial_bound(got):
    """With one session nothing overlaps: each message costs the SMTP
    dialogue (smx-mem's rate, maildirs on tmpfs) and then the durable
    delivery, one after the other. With the ceiling's loop as that
    delivery, 1 / (1/mem + 1/ceiling) is what a server reaches with
    smtp-source's dialogue on this host; a server whose delivery costs
    less than the loop (no name in tmp/) gets somewhat past it, but no
    server gets near the ceiling itself."""
    if not all(k in got and got[k][0] for k in ("smx-mem", "ceiling")):
        return
    mem, ceil = got["smx-mem"][0], got["ceiling"][0]
    bound = 1 / (1 / mem + 1 / ceil)
    line = ("    the dialogue alone (smx-mem, tmpfs): %.0f msg/s; it and "
            "the ceiling's loop in series: %.0f msg/s = %.3f of "
            "ceiling-1" % (mem, bound, bound / ceil))
    if "strictmx" in got:
        line += "; strictmx: %.3f of that" % (got["strictmx"][0] / bound)
    print(line)


def cbvstat(argv):
    """Every sender verdict in the cbv table of a stats database, counted
    by who decided it and the outcome."""
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % argv[0], uri=True, timeout=5)
    got = con.execute("SELECT decided_by, outcome, count(*) FROM cbv "
                      "GROUP BY 1, 2").fetchall()
    con.close()
    print(", ".join("%s %s %d" % g for g in got) or "none")
    return 0


def fsync_probe(argv):
    path = os.path.join(argv[0], "fsync-probe")
    lat = []
    for _ in range(200):
        t = time.monotonic()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
        os.close(fd)
        lat.append((time.monotonic() - t) * 1000)
    os.unlink(path)
    lat.sort()
    print("4 KiB write+fsync: median %.2f ms, p90 %.2f ms, max %.2f ms"
          % (lat[len(lat) // 2], lat[len(lat) * 9 // 10], lat[-1]))
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        return run(sys.argv[2:])
    if len(sys.argv) == 3 and sys.argv[1] == "fsync":
        return fsync_probe(sys.argv[2:])
    if len(sys.argv) >= 3 and sys.argv[1] == "summary":
        return summary(sys.argv[2:])
    if len(sys.argv) == 3 and sys.argv[1] == "cbvstat":
        return cbvstat(sys.argv[2:])
    if len(sys.argv) >= 2 and sys.argv[1] == "message":
        return message(sys.argv[2:])
    if len(sys.argv) >= 2 and sys.argv[1] == "plain":
        return plain(sys.argv[2:])
    if len(sys.argv) >= 3 and sys.argv[1] == "ceiling":
        return ceiling(sys.argv[2:])
    if len(sys.argv) >= 2 and sys.argv[1] == "responder":
        return responder(sys.argv[2:])
    sys.exit("usage: trial.py run OPTIONS -- smtp-source ... | "
             "trial.py fsync DIR | trial.py summary FILE | "
             "trial.py message OPTIONS")


if __name__ == "__main__":
    sys.exit(main())
