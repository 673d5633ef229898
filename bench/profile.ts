// Reads the .cpuprofile a `node --cpu-prof` server child wrote on exit and
// prints where its CPU went: by package/area and by function (self time).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileSummary {
  file: string;
  total_ms: number;
  by_area: { area: string; ms: number; pct: number }[];
  top_functions: { fn: string; ms: number; pct: number }[];
}

function area(url: string, fn: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)') return 'program (native, uncategorised)';
  if (url === '') return 'native/builtin';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  return url.split('/').slice(-2).join('/');
}

export function summarizeProfiles(dir: string, top = 25): ProfileSummary[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return files.map((file) => {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const totalMs = (profile.endTime - profile.startTime) / 1000;
    const totalHits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
    const msPerHit = totalMs / totalHits;
    const areas = new Map<string, number>();
    const fns = new Map<string, number>();
    for (const n of profile.nodes) {
      const hits = n.hitCount ?? 0;
      if (hits === 0) continue;
      const { functionName, url, lineNumber } = n.callFrame;
      const a = area(url, functionName);
      areas.set(a, (areas.get(a) ?? 0) + hits);
      const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/')}:${lineNumber + 1}`;
      fns.set(key, (fns.get(key) ?? 0) + hits);
    }
    const rows = (m: Map<string, number>) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, hits]) => ({ k, ms: Math.round(hits * msPerHit), pct: Math.round((1000 * hits) / totalHits) / 10 }));
    return {
      file,
      total_ms: Math.round(totalMs),
      by_area: rows(areas).map(({ k, ms, pct }) => ({ area: k, ms, pct })),
      top_functions: rows(fns).map(({ k, ms, pct }) => ({ fn: k, ms, pct })),
    };
  });
}
