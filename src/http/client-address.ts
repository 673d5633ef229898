import { isIP, isIPv6 } from 'node:net';

// Who is asking, as the per-address limits (logins, chat sessions) count it.

/** The parts of a request its address is read from (a FastifyRequest has them). */
export interface AddressedRequest {
  /** the client's address: X-Forwarded-For's when TRUST_PROXY believes it, else the socket's */
  ip: string;
  socket: { remoteAddress?: string | undefined };
}

/**
 * The client address limits are counted by. An IPv6 host usually holds a
 * whole /64, so it is counted per /64 (or it would have 2^64 addresses to
 * spread its attempts over); an IPv4 address seen through an IPv6 socket
 * (::ffff:a.b.c.d) is that IPv4 address. A port a proxy wrote with the
 * address (Azure Application Gateway forwards a.b.c.d:port) is no part of
 * it, or every connection would be a new client; and a forwarded value that
 * is no address at all counts as the socket's address (the proxy's), or any
 * string a client forwards would be a fresh key.
 */
export function addressKey(request: AddressedRequest): string {
  const ip = asIp(request.ip) ?? asIp(request.socket.remoteAddress ?? '') ?? 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** The address in `value` without port or zone, or undefined when it holds none. */
function asIp(value: string): string | undefined {
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(value);
  const v6 = /^\[([^\]]*)\](?::\d+)?$/.exec(value);
  const bare = (v4?.[1] ?? v6?.[1] ?? value).replace(/%.*$/, '');
  return isIP(bare) ? bare : undefined;
}

/**
 * TRUST_PROXY as a number of proxies: the client is the address that many
 * hops from the right of X-Forwarded-For, whatever a client wrote to the left
 * (proxies that append keep it). Fastify 5.12.8 no longer takes a number
 * (it would trust no proxy), so it is said as a trust function.
 */
export function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}
