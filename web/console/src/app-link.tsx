import type { ReactNode } from 'react';

/**
 * A link the console follows itself (`go` pushes the history entry) rather
 * than loading a page; still a real href, so it opens in a new tab too.
 */
export function AppLink({ to, go, current, className, children }: { to: string; go: (path: string) => void; current?: boolean; className?: string; children: ReactNode }) {
  return (
    <a
      href={to}
      className={className}
      aria-current={current ? 'page' : undefined}
      onClick={(e) => {
        e.preventDefault();
        go(to);
      }}
    >
      {children}
    </a>
  );
}
