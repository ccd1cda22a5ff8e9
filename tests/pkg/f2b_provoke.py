#!/usr/bin/python3
# f2b_provoke.py - SMTP sessions that make a running strictmxd write
# refusal lines, from known client addresses, for fail2ban_check.sh.
#
# usage: f2b_provoke.py PORT DNSPORT [V6ADDR]
# Runs inside the private network namespace of fail2ban_check.sh, against
# strictmxd on 127.0.0.1:PORT (and [::1]:PORT, from V6ADDR), whose
# resolver is 127.0.0.1:DNSPORT: this script answers SERVFAIL there, so
# that the sender check of a valid RCPT ends in a 4xx tempfail.
# Prints one line "HOST COUNT" per address that must be banned (COUNT =
# policy refusals with a 5xx reply it provoked), and "NEGATIVE HOST" for the
# addresses whose refusals (4xx, DATA) fail2ban must ignore.
# Exit 0 when every reply had the expected class, 1 otherwise.

import socket
import struct
import sys
import threading

PORT = int(sys.argv[1])
DNSPORT = int(sys.argv[2])
V6 = sys.argv[3] if len(sys.argv) > 3 else None
failures = []


def dns_servfail(sock):
    """Answer every query with SERVFAIL (RCODE 2), question echoed."""
    while True:
        try:
            q, peer = sock.recvfrom(512)
        except OSError:
            return
        if len(q) < 12:
            continue
        qid, flags = struct.unpack("!HH", q[:4])
        flags = 0x8000 | (flags & 0x0100) | 0x0080 | 2	# QR RD RA SERVFAIL
        sock.sendto(struct.pack("!HH", qid, flags) + q[4:6] +
                    b"\0\0\0\0\0\0" + q[12:], peer)


class Session:
    """A raw SMTP session from a chosen source address."""

    def __init__(self, src, dst="127.0.0.1", family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.bind((src, 0))
        self.sock.connect((dst, PORT))
        self.buf = b""
        self.src = src
        self.expect("220", "greeting")

    def reply(self):
        while True:
            lines = self.buf.split(b"\r\n")
            for i, line in enumerate(lines[:-1]):
                if len(line) >= 4 and line[3:4] == b" ":
                    self.buf = b"\r\n".join(lines[i + 1:])
                    return line.decode("ascii", "replace")
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("connection closed")
            self.buf += data

    def expect(self, cls, what):
        r = self.reply()
        if not r.startswith(cls):
            failures.append("%s: %s: want %sxx, got %r" %
                            (self.src, what, cls, r))
        return r

    def cmd(self, line, cls):
        self.sock.sendall(line.encode("ascii") + b"\r\n")
        return self.expect(cls, line)

    def quit(self):
        self.cmd("QUIT", "2")
        self.sock.close()


def main():
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.1", DNSPORT))
    threading.Thread(target=dns_servfail, args=(dns,), daemon=True).start()
    banned = {}

    # Relay attempts and a dictionary probe: 3 policy refusals.
    s = Session("127.0.0.2")
    s.cmd("EHLO [127.0.0.2]", "2")
    s.cmd("MAIL FROM:<spammer@sender.example>", "2")
    s.cmd("RCPT TO:<victim@elsewhere.example>", "5")
    s.cmd("RCPT TO:<other@elsewhere.example>", "5")
    s.cmd("RCPT TO:<nobody@test.example>", "5")
    s.quit()
    banned["127.0.0.2"] = 3

    # A HELO that is no FQDN, then one that claims to be us; the MAIL
    # after them gets 503 (no HELO accepted), which is no refusal line.
    s = Session("127.0.0.3")
    s.cmd("EHLO nodots", "5")
    s.cmd("EHLO mx.test.example", "5")
    s.cmd("MAIL FROM:<x@sender.example>", "5")
    s.quit()
    banned["127.0.0.3"] = 2

    # Not to be banned: a DNS tempfail of the sender check (450), a
    # message with a bare LF (refused at DATA), syntax errors, and a
    # delivered message.
    s = Session("127.0.0.4")
    s.cmd("EHLO [127.0.0.4]", "2")
    s.cmd("MAIL FROM:<someone@sender.example>", "2")
    s.cmd("RCPT TO:<postmaster@test.example>", "4")
    s.quit()

    s = Session("127.0.0.5")
    s.cmd("EHLO [127.0.0.5]", "2")
    s.cmd("FROB", "5")
    s.cmd("MAIL FROM:bad", "5")
    s.cmd("MAIL FROM:<>", "2")
    s.cmd("RCPT TO:<postmaster@test.example>", "2")
    s.cmd("DATA", "3")
    s.sock.sendall(b"Subject: bare\r\n\r\nbare\nLF\r\n.\r\n")
    s.expect("5", "bare LF")
    s.cmd("MAIL FROM:<>", "2")
    s.cmd("RCPT TO:<postmaster@test.example>", "2")
    s.cmd("DATA", "3")
    s.sock.sendall(b"Subject: ok\r\n\r\nhello\r\n.\r\n")
    s.expect("2", "delivery")
    s.quit()

    # IPv6, when fail2ban_check.sh could give lo the address V6: one
    # relay attempt.
    if V6:
        s = Session(V6, "::1", socket.AF_INET6)
        s.cmd("EHLO [IPv6:%s]" % V6, "2")
        s.cmd("MAIL FROM:<>", "2")
        s.cmd("RCPT TO:<victim@elsewhere.example>", "5")
        s.quit()
        banned[V6] = 1

    for host, n in banned.items():
        print(host, n)
    print("NEGATIVE 127.0.0.4")
    print("NEGATIVE 127.0.0.5")
    for f in failures:
        print("provoke: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
