#!/usr/bin/env python3
# idle.py - many idle connections held by one strictmxd: the memory each
# costs the daemon, and a well-behaved client served while they are held
# (issue 10, "Scale"). idle.sh runs it inside a private network namespace.
#
#   idle.py --pid PID --port PORT --maildir DIR --sources A,B,...
#           [--conns 10000] [--greeting-only] [--good-source ADDR]
#           [--good-rcpt ADDR] [--good-msgs 20] [--good-interval 1.0]
#           [--bound 2.0] [--max-kib 5.0] [--ramp-timeout 180] [--rounds 1]
#           [--parallel 100]
#       PID is the strictmxd listening on 127.0.0.1:PORT, DIR its
#       maildir_root. Steps, each printed:
#       1. warm-up: two deliveries by the well-behaved client and ten
#          idle connections opened and closed; then the baseline VmRSS,
#          Pss, Private (smaps_rollup) and open descriptors of PID;
#       2. CONNS connections, spread round-robin over the source
#          addresses, each reads the 220 greeting and (unless
#          --greeting-only) sends one EHLO and reads its whole reply, so
#          that the session is past the greeting and holds a HELO name;
#          then it idles. At most PARALLEL (--parallel, default 100)
#          are being set up at any time;
#       3. the memory and descriptors with all of them held, and
#          (after - baseline) / CONNS in KiB;
#       4. the well-behaved client (smtplib, from --good-source) delivers
#          GOOD_MSGS messages, one every GOOD_INTERVAL seconds: each must
#          get its 250 after the dot within BOUND seconds of its connect
#          and be found in a maildir new/ directory below DIR;
#       5. the idle connections must all still be open (none closed by
#          the server); then they are closed, and the descriptors of PID
#          must come back to the baseline within 30 s.
#       Steps 2-5 run ROUNDS times (memory freed by one round is reused
#       by the next: the per-connection figure of a later round is that
#       of a daemon past its first peak; a leak shows as growth).
#       Exit 0 when all CONNS were held, KiB per idle connection (Rss, of
#       the first round) is below MAX_KIB, every delivery was in time and
#       the descriptors came back; 1 otherwise.

import argparse
import glob
import os
import resource
import selectors
import smtplib
import socket
import statistics
import sys
import time

PARALLEL = 100		# connections being set up at once (--parallel)
LINE_MAX = 4096		# a reply longer than this is an error


def proc_mem(pid):
	"""Rss, Pss and Private (clean + dirty) of pid in KiB, from
	smaps_rollup (exact, unlike VmRSS in status, which may lag)."""
	rss = pss = priv = 0
	with open(f"/proc/{pid}/smaps_rollup") as f:
		for line in f:
			k, _, rest = line.partition(":")
			if k == "Rss":
				rss = int(rest.split()[0])
			elif k == "Pss":
				pss = int(rest.split()[0])
			elif k in ("Private_Clean", "Private_Dirty"):
				priv += int(rest.split()[0])
	return rss, pss, priv


def nfds(pid):
	return len(os.listdir(f"/proc/{pid}/fd"))


def show(label, pid):
	rss, pss, priv = proc_mem(pid)
	n = nfds(pid)
	print(f"{label:<26} Rss {rss:>7} KiB  Pss {pss:>7} KiB  "
	      f"Private {priv:>7} KiB  fds {n}", flush=True)
	return rss, pss, priv, n


class Conn:
	"""One idle client: reads the greeting, maybe sends EHLO, idles."""

	def __init__(self, src, port, ehlo):
		self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		self.sock.setblocking(False)
		self.sock.bind((src, 0))
		self.buf = b""
		self.ehlo = ehlo
		self.state = "connect"	# connect, greet, ehlo, held, failed
		self.why = ""
		try:
			self.sock.connect(("127.0.0.1", port))
		except BlockingIOError:
			pass

	def fail(self, why):
		self.state = "failed"
		self.why = why

	def final_reply(self):
		"""The code of a complete reply in buf, or None; drops it."""
		while b"\r\n" in self.buf:
			line, _, self.buf = self.buf.partition(b"\r\n")
			if len(line) < 4 or line[3:4] not in (b" ", b"-"):
				return b"bad"
			if line[3:4] == b" ":
				return line[:3]
		if len(self.buf) > LINE_MAX:
			return b"bad"
		return None

	def on_event(self, mask):
		"""Advance; returns True once nothing more is to be done."""
		if self.state == "connect":
			err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
			if err:
				self.fail(f"connect: {os.strerror(err)}")
				return True
			self.state = "greet"
			return False
		try:
			data = self.sock.recv(LINE_MAX)
		except BlockingIOError:
			return False
		except OSError as e:
			self.fail(f"recv in {self.state}: {e}")
			return True
		if not data:
			self.fail(f"closed by the server in {self.state}: "
				  f"{self.buf[:80]!r}")
			return True
		self.buf += data
		code = self.final_reply()
		if code is None:
			return False
		if self.state == "greet":
			if code != b"220":
				self.fail(f"greeting {code!r}")
				return True
			if not self.ehlo:
				self.state = "held"
				return True
			self.sock.send(b"EHLO idle.example\r\n")
			self.state = "ehlo"
			return False
		if code != b"250":
			self.fail(f"EHLO reply {code!r}")
			return True
		self.state = "held"
		return True


def open_idle(n, sources, port, ehlo, deadline, parallel=PARALLEL):
	"""Open n connections; returns (held list, failed list)."""
	sel = selectors.DefaultSelector()
	held, failed = [], []
	started = 0
	busy = 0
	while (started < n or busy > 0) and time.monotonic() < deadline:
		while started < n and busy < parallel:
			try:
				c = Conn(sources[started % len(sources)], port, ehlo)
			except OSError as e:
				print(f"cannot open connection {started}: {e}",
				      file=sys.stderr)
				return held, failed + [None] * (n - started)
			started += 1
			busy += 1
			sel.register(c.sock, selectors.EVENT_WRITE, c)
		for key, mask in sel.select(timeout=1.0):
			c = key.data
			was = c.state
			done = c.on_event(mask)
			if done:
				sel.unregister(c.sock)
				busy -= 1
				if c.state == "held":
					held.append(c)
				else:
					failed.append(c)
			elif was == "connect":
				sel.modify(c.sock, selectors.EVENT_READ, c)
	for key in list(sel.get_map().values()):
		c = key.data
		c.fail(f"no reply within the ramp timeout in state {c.state}: "
		       f"{c.buf[:80]!r}")
		failed.append(c)
	sel.close()
	return held, failed


def deliver(args, token):
	"""One message by the well-behaved client; returns (ok, seconds, why)."""
	msg = (f"From: good@good.example\r\nTo: {args.good_rcpt}\r\n"
	       f"Subject: idle bench {token}\r\nMessage-ID: <{token}@good.example>"
	       f"\r\n\r\nA well-behaved message, {token}.\r\n")
	t0 = time.monotonic()
	try:
		with smtplib.SMTP("127.0.0.1", args.port, timeout=args.bound + 5,
				  source_address=(args.good_source, 0),
				  local_hostname="good.example") as smtp:
			refused = smtp.sendmail("good@good.example",
						[args.good_rcpt], msg)
			t = time.monotonic() - t0
			if refused:
				return False, t, f"refused {refused}"
	except (OSError, smtplib.SMTPException) as e:
		return False, time.monotonic() - t0, f"{type(e).__name__}: {e}"
	return True, t, ""


def in_maildir(root, token, wait=5.0):
	"""True once a file in some new/ below root holds token."""
	end = time.monotonic() + wait
	needle = token.encode()
	while True:
		for p in glob.glob(os.path.join(root, "**", "new", "*"),
				   recursive=True):
			try:
				with open(p, "rb") as f:
					if needle in f.read():
						return True
			except OSError:
				pass
		if time.monotonic() >= end:
			return False
		time.sleep(0.05)


def good_client(args, n, label):
	lat, bad = [], []
	for i in range(n):
		t_next = time.monotonic() + args.good_interval
		token = f"idle{os.getpid()}x{label}x{i}"
		ok, t, why = deliver(args, token)
		if ok and not in_maildir(args.maildir, token):
			ok, why = False, "250 but no file in a new/ directory"
		if ok and t > args.bound:
			ok, why = False, f"slow: {t:.3f} s > {args.bound} s"
		lat.append(t)
		if not ok:
			bad.append(f"message {i}: {why}")
		time.sleep(max(0.0, t_next - time.monotonic()))
	return lat, bad


def one_round(args, sources, ehlo, base, rnd):
	"""Steps 2-5 once; True when every check held."""
	tag = f"[{rnd}] " if args.rounds > 1 else ""
	# 2. the idle connections
	start = proc_mem(args.pid)
	t0 = time.monotonic()
	held, failed = open_idle(args.conns, sources, args.port, ehlo,
				 t0 + args.ramp_timeout, args.parallel)
	ramp = time.monotonic() - t0
	print(f"{tag}held {len(held)} of {args.conns} idle connections, set up in "
	      f"{ramp:.1f} s ({len(held) / ramp:.0f}/s); failed {len(failed)}",
	      flush=True)
	if failed:
		whys = {}
		for c in failed:
			w = c.why if c is not None else "not opened"
			whys[w] = whys.get(w, 0) + 1
		for w, k in sorted(whys.items(), key=lambda x: -x[1])[:5]:
			print(f"   {k} x {w}")
	time.sleep(1.0)

	# 3. memory with all held
	full = show(f"{tag}with {len(held)} held", args.pid)
	n = max(1, len(held))
	per = [(full[i] - base[i]) / n for i in range(3)]
	print(f"per idle connection:       Rss {per[0]:.2f} KiB  "
	      f"Pss {per[1]:.2f} KiB  Private {per[2]:.2f} KiB  "
	      f"fds +{full[3] - base[3]} ({(full[3] - base[3]) / n:.2f} each)",
	      flush=True)
	if rnd > 1:
		# what this round's connections added to what earlier ones left
		print(f"   since the round began:  Rss "
		      f"{(full[0] - start[0]) / n:.2f} KiB per connection "
		      f"(the baseline figure above includes the memory the "
		      f"previous round's closes left mapped)")

	# 4. the well-behaved client
	lat, bad = good_client(args, args.good_msgs, "held")
	print(f"well-behaved client: {args.good_msgs} messages, one every "
	      f"{args.good_interval} s, while the idle connections are held; "
	      f"connect-to-250 latency min {min(lat):.3f} median "
	      f"{statistics.median(lat):.3f} max {max(lat):.3f} s "
	      f"(bound {args.bound} s); failed or slow {len(bad)}")
	print("   latencies: " + " ".join(f"{t:.3f}" for t in lat))
	for b in bad:
		print(f"   {b}")
	after = show(f"{tag}after the deliveries", args.pid)

	# 5. still all there? then close them
	closed = 0
	for c in held:
		try:
			d = c.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
			if d == b"":
				closed += 1
		except BlockingIOError:
			pass
		except OSError:
			closed += 1
	print(f"idle connections closed by the server meanwhile: {closed}")
	for c in held:
		c.sock.close()
	end = time.monotonic() + 30
	while nfds(args.pid) > base[3] and time.monotonic() < end:
		time.sleep(0.2)
	fin = show(f"{tag}after closing them", args.pid)
	fds_back = fin[3] <= base[3]
	print(f"descriptors back to the baseline ({base[3]}): "
	      f"{'yes' if fds_back else 'NO'}")

	ok = True
	if len(held) != args.conns or closed:
		print(f"FAIL: not all {args.conns} idle connections held")
		ok = False
	# judged on the first round: later ones stand on what the closes of
	# the earlier ones left mapped (see README)
	if rnd == 1 and per[0] >= args.max_kib:
		print(f"FAIL: {per[0]:.2f} KiB per idle connection >= "
		      f"{args.max_kib}")
		ok = False
	if bad:
		print(f"FAIL: {len(bad)} deliveries failed or slow")
		ok = False
	if not fds_back:
		print("FAIL: descriptors did not come back to the baseline")
		ok = False
	return ok


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--pid", type=int, required=True)
	ap.add_argument("--port", type=int, required=True)
	ap.add_argument("--maildir", required=True)
	ap.add_argument("--sources", required=True)
	ap.add_argument("--conns", type=int, default=10000)
	ap.add_argument("--greeting-only", action="store_true")
	ap.add_argument("--good-source", default="127.0.0.2")
	ap.add_argument("--good-rcpt", default="user@bench.example")
	ap.add_argument("--good-msgs", type=int, default=20)
	ap.add_argument("--good-interval", type=float, default=1.0)
	ap.add_argument("--bound", type=float, default=2.0)
	ap.add_argument("--max-kib", type=float, default=5.0)
	ap.add_argument("--ramp-timeout", type=float, default=180.0)
	ap.add_argument("--rounds", type=int, default=1)
	ap.add_argument("--parallel", type=int, default=PARALLEL)
	args = ap.parse_args()
	sources = args.sources.split(",")
	ehlo = not args.greeting_only

	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	need = args.conns + 100
	if soft < need:
		if hard < need:
			print(f"RLIMIT_NOFILE hard limit {hard} < {need}",
			      file=sys.stderr)
			return 1
		resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
	print(f"idle clients: {args.conns} from {len(sources)} addresses "
	      f"({sources[0]}..{sources[-1]}), each "
	      f"{'reads the 220 greeting' if not ehlo else 'reads the 220 greeting, sends EHLO and reads the 250 reply'}, "
	      f"then idles", flush=True)

	# 1. warm-up
	lat, bad = good_client(args, 2, "warm")
	if bad:
		print("warm-up delivery failed: " + "; ".join(bad))
		return 1
	few, fewbad = open_idle(10, sources, args.port, ehlo,
				time.monotonic() + 30)
	for c in few:
		c.sock.close()
	if fewbad:
		print(f"warm-up: {len(fewbad)} of 10 idle connections failed: "
		      f"{fewbad[0].why if fewbad[0] else '?'}")
		return 1
	time.sleep(1.0)
	base = show("baseline (after warm-up)", args.pid)

	ok = True
	for rnd in range(1, args.rounds + 1):
		if not one_round(args, sources, ehlo, base, rnd):
			ok = False
	print("RESULT: " + ("ok" if ok else "FAILED"))
	return 0 if ok else 1


if __name__ == "__main__":
	sys.exit(main())
