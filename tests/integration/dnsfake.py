"""A small authoritative DNS server over UDP for the DNS SD tests: answers A, AAAA and SRV questions from a
table the test changes while it runs (RFC 1035 message format; names written uncompressed), NXDOMAIN for
names it does not know, and SERVFAIL for names listed in `failing`."""
import socket
import struct
import threading


def _name(n):
    out = b""
    for part in n.rstrip(".").split("."):
        if part:
            out += bytes([len(part)]) + part.encode()
    return out + b"\0"


def _read_name(msg, off):
    labels = []
    while True:
        ln = msg[off]
        if ln == 0:
            return ".".join(labels), off + 1
        labels.append(msg[off + 1:off + 1 + ln].decode())
        off += 1 + ln


class DNSServer:
    A, AAAA, SRV = 1, 28, 33

    def __init__(self, addr):
        self.table = {}  # (name, qtype) -> list of rdata values
        self.failing = set()
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 53))
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()

    def _rdata(self, qtype, v):
        if qtype == self.A:
            return socket.inet_pton(socket.AF_INET, v)
        if qtype == self.AAAA:
            return socket.inet_pton(socket.AF_INET6, v)
        prio, weight, port, target = v
        return struct.pack(">HHH", prio, weight, port) + _name(target)

    def _serve(self):
        while not self.stop:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            qid, flags, qd = struct.unpack(">HHH", msg[:6])
            name, off = _read_name(msg, 12)
            qtype, qclass = struct.unpack(">HH", msg[off:off + 4])
            question = msg[12:off + 4]
            key = name.lower().rstrip(".")
            self.queries.append((key, qtype))
            known = any(k[0] == key for k in self.table)
            rcode = 2 if key in self.failing else (0 if known else 3)
            answers = self.table.get((key, qtype), []) if rcode == 0 else []
            body = b""
            for v in answers:
                rd = self._rdata(qtype, v)
                body += _name(key) + struct.pack(">HHIH", qtype, 1, 5, len(rd)) + rd
            hdr = struct.pack(">HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1, len(answers), 0, 0)
            self.sock.sendto(hdr + question + body, peer)
