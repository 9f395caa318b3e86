"""Who the client is: the socket peer, or what a trusted reverse proxy says it saw.

``--trusted-proxy CIDR`` (repeatable) names the proxies in front of ``serve``. Only a
peer inside one of them may name the client, in ``X-Forwarded-For``; the header is
read from the right (the entry the nearest proxy appended) past every trusted hop,
and the first untrusted address is the client. Everything else is the client itself:

- a peer outside the trusted networks, whatever header it sends (anyone can write one);
- a trusted peer that sends no header (the proxy's own address then shares one
  network bucket: a missing header is never an exemption from limits);
- IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``, what a dual-stack ``--host ::``
  socket reports for an IPv4 peer) are unwrapped first, in the peer, in the header
  and in the CIDRs, so one address has one spelling.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def unwrap(address: Address) -> Address:
    """``::ffff:a.b.c.d`` is the IPv4 address ``a.b.c.d``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=8192)  # the same peers and proxies, request after request
def parse_address(text: str) -> Address | None:
    """An address as sockets and proxies write it (zone, brackets and port tolerated)."""
    text = text.strip()
    if text.startswith("["):  # "[2001:db8::1]:443"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "203.0.113.7:5123"
        text = text.partition(":")[0]
    try:
        return unwrap(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError:
        return None


def parse_network(text: str) -> Network:
    """A CIDR (or a bare address); a mapped IPv6 range becomes its IPv4 range."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an address or CIDR: {text!r}") from exc
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, cidrs: Iterable[str | Network]) -> TrustedProxies:
        return cls(tuple(c if not isinstance(c, str) else parse_network(c) for c in cidrs))

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded: Sequence[str]) -> str:
        """The client's address for one request (``forwarded``: each X-Forwarded-For line)."""
        current = parse_address(peer)
        if current is None:
            return peer  # not an IP socket (never for TCP): nothing to unwrap
        if not self.trusts(current):
            return str(current)
        hops = [hop for line in forwarded for hop in line.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                # A trusted hop wrote something unreadable: the last address known for
                # sure (a trusted proxy) stands for the client, limits included.
                break
            current = address
            if not self.trusts(address):
                break
        return str(current)
