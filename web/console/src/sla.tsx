import { formatWait } from '../../shared/format';
import { t } from '../../shared/i18n';

// A conversation's first-response SLA on the desk (docs/routing.md, "Aging
// and SLAs"): the time left until the first agent reply is due, counting
// down with the console's clock, and red once breached. Nothing once
// answered, or when its department has no target.

export interface SlaClock {
  dueAt: string | null | undefined;
  firstResponseAt?: string | null | undefined;
  breachedAt: string | null | undefined;
}

export function SlaTimer({ sla, now }: { sla: SlaClock; now: number }) {
  if (!sla.dueAt || sla.firstResponseAt) return null;
  const left = (Date.parse(sla.dueAt) - now) / 1000;
  // the server raises the breach at its next sweep; the console shows it from the due time on
  if (sla.breachedAt || left <= 0) {
    return (
      <span className="sla sla-breached" data-testid="sla-timer" data-state="breached" role="status">
        {t('SLA breached')}
      </span>
    );
  }
  return (
    <span className="sla" data-testid="sla-timer" data-state="running" title={t('First reply due in {time}', { time: formatWait(left) })}>
      {t('SLA {time}', { time: formatWait(left) })}
    </span>
  );
}
