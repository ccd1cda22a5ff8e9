#!/usr/bin/env python3
"""dnsserver.py - a small scripted DNS server over UDP for the SPF tests:
serves a zone written like the OpenSPF suite's zonedata, as a resolver would.

Zone: {name: [record, ...]}; names match case-insensitively, a trailing dot
is ignored. A record is one of
  {"A": "192.0.2.1"}  {"AAAA": "2001:db8::1"}  {"MX": [10, "mx.example"]}
  {"TXT": "text"} or {"TXT": ["several", "strings"]} (one RR; a string over
      255 octets is cut into 255-octet character-strings, RFC 1035 3.3.14)
  {"SPF": ...} (type 99, like TXT)  {"PTR": "name"}  {"CNAME": "name"}
  {"TYPEnnn": "hex rdata"}  (any other type, raw)
  {"TXT": "NONE"}   the name exists; no records of that type
  "TIMEOUT"         queries for a type not listed before it get no answer
                    (pyspf's test semantics; a name holding only TIMEOUT
                    never answers)
  {"RCODE": n}      every query for the name gets rcode n, no answer
  "TRUNCATE"        every query for the name gets TC with no answer
suite=True applies the OpenSPF drivers' rule: a name with SPF records and no
TXT entry at all also serves those SPF records as TXT.

Answers: the CNAME chain is followed (owner names as asked) and put whole in
the answer; a loop or a chain over 16 is SERVFAIL. NXDOMAIN when the final
name has no entry, NOERROR/NODATA when it has no record of the type. EDNS0
(RFC 6891): a query's OPT RR sets the UDP size (at least 512; 512 without
OPT) and the reply carries an OPT RR; a reply that does not fit is sent with
TC set and an empty answer section (RFC 1035 4.2.1, RFC 2181 9).

Module use:
  srv = DNSServer(zone, "127.0.0.1", 53, suite=False); srv.start() ...
  srv.set_zone(zone2); srv.queries (list of (name, type)); srv.stop()
Script: dnsserver.py --zone FILE.yaml|FILE.json --listen 127.0.0.1:53 [...]
"""
import argparse
import ipaddress
import json
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "SPF": 99, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
MAX_CHAIN = 16
TTL = 60


def norm(name):
    """The lookup key of a domain name: lower case, no trailing dot."""
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    name = name.rstrip(".") if name != "." else ""
    return name.lower()


def type_code(t):
    if isinstance(t, int):
        return t
    t = str(t).upper()
    if t in TYPES:
        return TYPES[t]
    if t.startswith("TYPE") and t[4:].isdigit():
        return int(t[4:])
    raise ValueError("unknown RR type %r" % t)


def encode_name(name):
    """Wire form of a name given as text (labels split on '.')."""
    if isinstance(name, str):
        name = name.encode("utf-8")
    out = b""
    for label in name.split(b"."):
        if not label:
            continue
        if len(label) > 63:
            raise ValueError("label too long")
        out += bytes([len(label)]) + label
    out += b"\0"
    if len(out) > 255:
        raise ValueError("name too long")
    return out


def txt_rdata(value):
    """TXT/SPF rdata: one character-string per list item, each cut to
    255-octet pieces; a YAML "\\xEF" is the code point U+00EF, sent UTF-8
    encoded like pyspf's driver does."""
    if isinstance(value, (str, bytes)):
        value = [value]
    out = b""
    for s in value:
        if isinstance(s, str):
            s = s.encode("utf-8")
        if not s:
            out += b"\0"
        while s:
            out += bytes([len(s[:255])]) + s[:255]
            s = s[255:]
    return out


def rdata(t, value):
    if t == 1:
        return ipaddress.IPv4Address(value).packed
    if t == 28:
        return ipaddress.IPv6Address(value).packed
    if t == 15:
        return struct.pack(">H", int(value[0])) + encode_name(value[1] or "")
    if t in (16, 99):
        return txt_rdata(value)
    if t in (2, 5, 12):
        return encode_name(value)
    if isinstance(value, bytes):
        return value
    return bytes.fromhex(str(value).replace(" ", ""))


class Zone:
    """The zone, normalised: {key: [entries]}, an entry being "TIMEOUT",
    "TRUNCATE", ("RCODE", n), (type, None) for NONE, or (type, value)."""

    def __init__(self, zonedata, suite=False):
        self.names = {}
        for name, records in (zonedata or {}).items():
            entries, spf, has_txt = [], [], False
            for r in records or []:
                if isinstance(r, str):
                    entries.append(r.upper())
                    continue
                for k, v in r.items():
                    if str(k).upper() == "RCODE":
                        entries.append(("RCODE", int(v)))
                        continue
                    t = type_code(k)
                    if t == 16:
                        has_txt = True
                    if v == "NONE":
                        entries.append((t, None))
                        continue
                    entries.append((t, v))
                    if t == 99:
                        spf.append((16, v))
            if suite and not has_txt:
                entries += spf
            self.names.setdefault(norm(name), []).extend(entries)

    def records(self, name, qtype):
        """(status, [(type, value)]) at one name, no CNAME following:
        status 'nxdomain', 'ok', 'timeout', 'truncate' or an int rcode."""
        entries = self.names.get(norm(name))
        if entries is None:
            return "nxdomain", []
        found = []
        for e in entries:
            if e == "TIMEOUT":
                if not any(t == qtype for t, _ in found):
                    return "timeout", []
                break
            if e == "TRUNCATE":
                return "truncate", []
            if e[0] == "RCODE":
                return e[1], []
            t, v = e
            if v is not None and (t == qtype or t == 5 or qtype == 255):
                found.append((t, v))
        if qtype != 5 and any(t == qtype for t, _ in found):
            found = [(t, v) for t, v in found if t != 5]
        return "ok", found

    def resolve(self, qname, qtype):
        """What a recursive resolver would answer: (status, rcode, answers)
        with answers [(owner, type, value)] including the CNAME chain;
        status 'timeout' or 'truncate' means no normal reply."""
        answers, name, seen = [], qname, set()
        while True:
            status, recs = self.records(name, qtype)
            if status in ("timeout", "truncate"):
                return status, 0, []
            if isinstance(status, int):
                return "ok", status, answers
            if status == "nxdomain":
                return "ok", 3, answers
            cname = [v for t, v in recs if t == 5]
            if cname and qtype not in (5, 255):
                answers.append((name, 5, cname[0]))
                seen.add(norm(name))
                name = cname[0]
                if norm(name) in seen or len(seen) >= MAX_CHAIN:
                    return "ok", 2, []
                continue
            answers += [(name, t, v) for t, v in recs]
            return "ok", 0, answers


def parse_query(pkt):
    """(id, flags, qname bytes, qtype, qclass, question bytes, edns) or
    None; edns is None (no OPT) or (udp size, version)."""
    if len(pkt) < 12:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", pkt[:12])
    if flags & 0x8000 or qd != 1:
        return None
    i, labels = 12, []
    while True:
        if i >= len(pkt) or pkt[i] & 0xC0:
            return None         # queries carry no compression
        n = pkt[i]
        if n == 0:
            i += 1
            break
        labels.append(pkt[i + 1:i + 1 + n])
        i += 1 + n
    if i + 4 > len(pkt):
        return None
    qtype, qclass = struct.unpack(">HH", pkt[i:i + 4])
    question = pkt[12:i + 4]
    i += 4
    edns = None
    for _ in range(an + ns + ar):   # OPT's owner is the root: one 0 octet
        if i + 11 > len(pkt) or pkt[i] != 0:
            return None
        t, cls, ttl, rdlen = struct.unpack(">HHIH", pkt[i + 1:i + 11])
        if t == 41:
            edns = (max(cls, 512), (ttl >> 16) & 0xFF)
        i += 11 + rdlen
    return qid, flags, b".".join(labels), qtype, qclass, question, edns


def build_reply(zone, pkt):
    """The reply to one query packet, or None for no reply at all."""
    q = parse_query(pkt)
    if q is None:
        return None
    qid, flags, qname, qtype, qclass, question, edns = q
    limit = edns[0] if edns else 512
    opt = b""
    if edns:
        opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    out_flags = 0x8000 | (flags & 0x7900) | 0x0480   # QR, opcode, RD; AA RA
    rcode, answers = 0, []
    if edns and edns[1] != 0:   # BADVERS: extended rcode 16 = 1 << 4
        opt = b"\0" + struct.pack(">HHIH", 41, 1232, 1 << 24, 0)
    else:
        status, rcode, answers = zone.resolve(qname, qtype)
        if status == "timeout":
            return None
        if status == "truncate":
            return struct.pack(">HHHHHH", qid, out_flags | 0x0200, 1, 0, 0,
                               1 if opt else 0) + question + opt
    try:
        body = b""
        for owner, t, v in answers:
            owner_wire = encode_name(owner)
            rd = rdata(t, v)
            body += owner_wire + struct.pack(">HHIH", t, 1, TTL, len(rd)) + rd
    except (ValueError, TypeError, IndexError):
        rcode, answers, body = 2, [], b""
    head = struct.pack(">HHHHHH", qid, out_flags | (rcode & 0xF), 1,
                       len(answers), 0, 1 if opt else 0)
    reply = head + question + body + opt
    if len(reply) > limit:      # RFC 6891 7, RFC 2181 9: TC, no partial set
        reply = struct.pack(">HHHHHH", qid, out_flags | 0x0200 | rcode, 1,
                            0, 0, 1 if opt else 0) + question + opt
    return reply


class DNSServer:
    """A UDP DNS server in a daemon thread."""

    def __init__(self, zonedata, host="127.0.0.1", port=53, suite=False):
        self.zone = Zone(zonedata, suite)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        # A burst of hundreds of queries (an evaluator running many checks
        # at once) must not overflow the default receive buffer.
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None),
                    socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 1 << 22)
                break
            except (OSError, TypeError):
                continue
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()[:2]
        self.queries = []       # (name, type name), the last 10000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def set_zone(self, zonedata, suite=False):
        self.zone = Zone(zonedata, suite)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                pkt, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            q = parse_query(pkt)
            if q:
                if len(self.queries) >= 10000:
                    del self.queries[:5000]
                self.queries.append((norm(q[2]),
                                     TYPE_NAMES.get(q[3], str(q[3]))))
            try:
                reply = build_reply(self.zone, pkt)
            except Exception as e:      # never die on a bad zone entry
                print("dnsserver: %r" % e, file=sys.stderr)
                reply = None
            if reply:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass


def load_zone(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".json"):
        return json.loads(data)
    import yaml
    return yaml.safe_load(data)


def split_hostport(s):
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zone", required=True, help="zone file, YAML or JSON")
    ap.add_argument("--listen", action="append", required=True,
                    help="ADDR:PORT ([::1]:53 for IPv6), repeatable")
    ap.add_argument("--suite", action="store_true",
                    help="also serve SPF records as TXT (OpenSPF drivers)")
    args = ap.parse_args()
    zone = load_zone(args.zone)
    servers = [DNSServer(zone, *split_hostport(l), suite=args.suite).start()
               for l in args.listen]
    print("dnsserver: listening on %s" % ", ".join(args.listen), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    for s in servers:
        s.stop()


if __name__ == "__main__":
    main()
