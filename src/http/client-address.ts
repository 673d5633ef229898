import { isIPv4, isIPv6 } from 'node:net';

// Who is asking, as the per-address limits (logins, chat sessions) count it.

/**
 * The client address limits are counted by. An IPv6 host usually holds a
 * whole /64, so it is counted per /64 (or it would have 2^64 addresses to
 * spread its attempts over); an IPv4 address seen through an IPv6 socket
 * (::ffff:a.b.c.d) is that IPv4 address.
 */
export function addressKey(ip: string): string {
  const bare = ip.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (isIPv4(bare) || !isIPv6(bare)) return bare;
  const [head = '', tail] = bare.toLowerCase().split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
