"""A DNS server on loopback for tests: UDP and TCP on one port, answering TXT queries from a dict,
so the e-mail authentication checks go through dnspython's real resolver code (packets, rcodes,
truncation and the retry over TCP, timeouts). Nothing leaves the machine.

``DnsServer({"acme.example": ["v=spf1 -all"], "_dmarc.acme.example": ["v=DMARC1; p=reject"]})``:
a name in the dict exists (an empty list: NOERROR with no answer), any other name is NXDOMAIN;
names in ``silent`` are never answered, names in ``servfail`` get SERVFAIL. A record given as a
tuple is sent as those character-strings; a longer string is cut into 255-byte ones. Answers too
big for UDP (512 bytes without EDNS) are truncated, so the client asks again over TCP."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

Record = str | tuple[str, ...]


def _strings(record: Record) -> list[bytes]:
    if isinstance(record, tuple):
        return [part.encode() for part in record]
    raw = record.encode()
    return [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]


class DnsServer:
    def __init__(self, records: Mapping[str, Sequence[Record]] | None = None) -> None:
        self.records: dict[str, list[Record]] = {k.lower().rstrip("."): list(v) for k, v in (records or {}).items()}
        self.silent: set[str] = set()
        self.servfail: set[str] = set()
        self.queries: list[tuple[str, str, str]] = []  # (name, type, "udp" / "tcp")
        self._lock = threading.Lock()
        self._servers: list[socketserver.BaseServer] = []

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        with self._lock:
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype), transport))
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT and self.records[name]:
            rdatas = [dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, _strings(r))
                      for r in self.records[name]]
            response.answer.append(dns.rrset.from_rdata_list(question.name, 300, rdatas))
        try:
            return response.to_wire(max_size=512 if transport == "udp" else 65535)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            return truncated.to_wire()

    @property
    def port(self) -> int:
        return self._servers[0].server_address[1]

    @property
    def address(self) -> str:
        """The entry for ``CASB_DNS_RESOLVERS``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> DnsServer:
        server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = server.answer(data, "udp")
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    size = self.rfile.read(2)
                    if len(size) < 2:
                        return
                    reply = server.answer(self.rfile.read(int.from_bytes(size, "big")), "tcp")
                    if reply is None:
                        return
                    self.wfile.write(len(reply).to_bytes(2, "big") + reply)

        for _ in range(20):  # the UDP port may be taken for TCP by someone else: pick another
            udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Udp)
            try:
                tcp = socketserver.ThreadingTCPServer(("127.0.0.1", udp.server_address[1]), Tcp)
            except OSError:
                udp.server_close()
                continue
            break
        else:
            raise OSError("no loopback port free for both UDP and TCP")
        for item in (udp, tcp):
            item.daemon_threads = True
            self._servers.append(item)
            threading.Thread(target=item.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        for item in self._servers:
            item.shutdown()
            item.server_close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
