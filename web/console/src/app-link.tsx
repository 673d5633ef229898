import type { MouseEvent, ReactNode } from 'react';

/**
 * A click the browser should handle itself: with a modifier (Ctrl or ⌘ for
 * a new tab, Shift for a new window, Alt to download) or with another
 * button than the main one. The console then leaves the page where it is.
 */
export const opensElsewhere = (e: MouseEvent) => e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button !== 0;

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
        if (opensElsewhere(e)) return;
        e.preventDefault();
        go(to);
      }}
    >
      {children}
    </a>
  );
}
