import { readFileSync } from 'node:fs';

// A Caddyfile as a tree of directives, enough for tests to see where a
// path is proxied without Caddy: each line's tokens, and the block that
// follows it in braces. Comments and quotes are handled; snippets, imports
// and environment placeholders are left as written.

export interface Directive {
  /** the first token: a site address at the top level, a directive or subdirective below */
  name: string;
  args: string[];
  block: Directive[];
}

function tokenize(text: string): string[][] {
  const lines: string[][] = [];
  for (const raw of text.split('\n')) {
    const tokens: string[] = [];
    for (const match of raw.matchAll(/"((?:[^"\\]|\\.)*)"|(#.*$)|(\S+)/g)) {
      if (match[2] !== undefined) break;
      tokens.push(match[1] ?? match[3]!);
    }
    if (tokens.length > 0) lines.push(tokens);
  }
  return lines;
}

export function parseCaddyfile(text: string): Directive[] {
  const lines = tokenize(text);
  let i = 0;
  const parseBlock = (): Directive[] => {
    const block: Directive[] = [];
    while (i < lines.length) {
      const tokens = lines[i++]!;
      if (tokens.length === 1 && tokens[0] === '}') return block;
      const opens = tokens.at(-1) === '{';
      const [name = '', ...args] = opens ? tokens.slice(0, -1) : tokens;
      block.push({ name, args, block: opens ? parseBlock() : [] });
    }
    return block;
  };
  return parseBlock();
}

export function readCaddyfile(path: string): Directive[] {
  return parseCaddyfile(readFileSync(path, 'utf8'));
}

/** Every directive named `name` anywhere below `block`. */
export function findAll(block: Directive[], name: string): Directive[] {
  return block.flatMap((d) => [...(d.name === name ? [d] : []), ...findAll(d.block, name)]);
}
