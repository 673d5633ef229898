import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { roleText, statusText, TableHead, type AdminProps } from './admin-kit';
import { AttachmentsAdmin } from './admin-attachments';
import { EmailAdmin } from './admin-email';
import { HoursAdmin } from './admin-hours';
import { PrechatAdmin } from './admin-prechat';
import { QiscusAdmin } from './admin-qiscus';
import { RoutingAdmin } from './admin-routing';
import { LabelsAdmin } from './labels';
import { SettingsAdmin } from './admin-settings';
import { TicketersAdmin } from './admin-ticketers';
import { WebhooksAdmin } from './admin-webhooks';
import { WidgetAdmin } from './admin-widget';
import { parseSkills, skillsText, type Agent, type Role } from './types';
import { t } from '../../shared/i18n';

// Admin pages (admins only): the agents, their role, capacity,
// departments and skills here; settings, webhooks, RapidPro and Qiscus in admin-*.tsx.

/** The admin pages, in the order of the navigation (each label read when shown, in the language of the moment). */
export const ADMIN_PAGES = [
  { path: '/admin/agents', get label() { return t('Agents'); }, Page: AgentsAdmin },
  { path: '/admin/settings', get label() { return t('Settings'); }, Page: SettingsAdmin },
  { path: '/admin/routing', get label() { return t('Routing'); }, Page: RoutingAdmin },
  { path: '/admin/attachments', get label() { return t('Attachments'); }, Page: AttachmentsAdmin },
  { path: '/admin/prechat', get label() { return t('Pre-chat form'); }, Page: PrechatAdmin },
  { path: '/admin/labels', get label() { return t('Labels'); }, Page: LabelsAdmin },
  { path: '/admin/widget', get label() { return t('Widget'); }, Page: WidgetAdmin },
  { path: '/admin/hours', get label() { return t('Business hours'); }, Page: HoursAdmin },
  { path: '/admin/webhooks', get label() { return t('Webhooks'); }, Page: WebhooksAdmin },
  { path: '/admin/ticketers', label: 'RapidPro', Page: TicketersAdmin },
  { path: '/admin/qiscus', label: 'Qiscus', Page: QiscusAdmin },
  { path: '/admin/email', get label() { return t('Email'); }, Page: EmailAdmin },
] as const;

const roleOptions = () =>
  (['agent', 'supervisor', 'admin'] as const).map((role) => (
    <option key={role} value={role}>
      {roleText(role)}
    </option>
  ));

export const adminPageAt = (path: string) => ADMIN_PAGES.find((p) => p.path === path);

/** The channel that made an agent, by its product's name (not translated, as in the navigation) */
const channelName = (source: string) => (source === 'qiscus' ? 'Qiscus' : source);

const splitDepartments = (text: string) => [...new Set(text.split(',').map((d) => d.trim()).filter(Boolean))];

export function AgentsAdmin({ token, onError }: AdminProps) {
  const [agents, setAgents] = useState<Agent[]>([]);
  const [form, setForm] = useState({ name: '', email: '', password: '', role: 'agent' as Role, capacity: '', departments: '', skills: '' });
  const load = useCallback(() => api<Agent[]>('GET', '/api/v1/agents', token).then(setAgents, onError), [token, onError]);
  useEffect(() => {
    void load();
  }, [load]);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await api('POST', '/api/v1/agents', token, {
        name: form.name,
        email: form.email,
        password: form.password,
        role: form.role,
        capacity: form.capacity === '' ? null : Number(form.capacity),
        departments: splitDepartments(form.departments),
        skills: parseSkills(form.skills),
      });
      setForm({ name: '', email: '', password: '', role: 'agent', capacity: '', departments: '', skills: '' });
      void load();
    } catch (e) {
      onError(e);
    }
  };
  const patch = async (id: string, body: Record<string, unknown>) => {
    try {
      await api('PATCH', `/api/v1/agents/${id}`, token, body);
      void load();
    } catch (e) {
      onError(e);
    }
  };
  const remove = async (agent: Agent) => {
    if (!confirm(t('Remove {name}? Their open conversations go back to the queue.', { name: agent.name }))) return;
    try {
      await api('DELETE', `/api/v1/agents/${agent.id}`, token);
      void load();
    } catch (e) {
      onError(e);
    }
  };
  const field = (key: keyof typeof form) => ({ value: form[key], onChange: (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value }) });

  return (
    <main className="admin">
      <h2>{t('Agents')}</h2>
      <div className="table-wrap">
        <table>
          <TableHead columns={[t('Name'), t('Email'), t('Role'), t('Status'), t('Load / capacity'), t('Departments'), t('Skills')]} actions />
          <tbody>
            {agents.map((a) => (
              <tr key={a.id}>
                <td>{a.name}</td>
                <td>{a.email}</td>
                <td>
                  {a.source !== null ? (
                    roleText(a.role)
                  ) : (
                    <select aria-label={t('Role of {name}', { name: a.name })} value={a.role} onChange={(e) => void patch(a.id, { role: e.target.value })}>
                      {roleOptions()}
                    </select>
                  )}
                </td>
                {/* a channel's agent (a Qiscus mirror): the channel says when they are available, and they serve its queue alone (409 SB_CHANNEL_AGENT) */}
                <td>{a.source !== null ? channelName(a.source) : statusText(a.status)}</td>
                <td>
                  {a.load} /{' '}
                  <input
                    key={`${a.id}-${a.capacity}`}
                    aria-label={t('Capacity of {name}', { name: a.name })}
                    className="narrow"
                    type="number"
                    min={0}
                    defaultValue={a.capacity ?? ''}
                    placeholder={String(a.effective_capacity)}
                    onBlur={(e) => {
                      const value = e.target.value === '' ? null : Number(e.target.value);
                      if (value !== a.capacity) void patch(a.id, { capacity: value });
                    }}
                  />
                </td>
                <td>
                  {a.source !== null ? (
                    a.departments.join(', ')
                  ) : (
                    <input
                      key={`${a.id}-${a.departments.join()}`}
                      aria-label={t('Departments of {name}', { name: a.name })}
                      placeholder={t('none: serves conversations without a department')}
                      defaultValue={a.departments.join(', ')}
                      onKeyDown={(e) => {
                        if (e.key === 'Enter') e.currentTarget.blur();
                      }}
                      onBlur={(e) => {
                        const next = splitDepartments(e.target.value);
                        if (next.join() !== a.departments.join()) void patch(a.id, { departments: next });
                      }}
                    />
                  )}
                </td>
                <td>
                  <input
                    key={`${a.id}-${skillsText(a.skills)}`}
                    aria-label={t('Skills of {name}', { name: a.name })}
                    placeholder={t('spanish:3, billing:1')}
                    defaultValue={skillsText(a.skills)}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') e.currentTarget.blur();
                    }}
                    onBlur={(e) => {
                      const next = parseSkills(e.target.value);
                      if (skillsText(next) !== skillsText(a.skills)) void patch(a.id, { skills: next });
                    }}
                  />
                </td>
                <td>
                  <button type="button" className="secondary" onClick={() => void remove(a)}>
                    {t('Remove')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>{t('New agent')}</h3>
      <form className="grid-form" onSubmit={create}>
        <label>
          {t('Name')} <input required maxLength={200} {...field('name')} />
        </label>
        <label>
          {t('Email')} <input required type="email" {...field('email')} />
        </label>
        <label>
          {t('Password')} <input required type="password" minLength={8} autoComplete="new-password" {...field('password')} />
        </label>
        <label>
          {t('Role')}
          <select {...field('role')}>{roleOptions()}</select>
        </label>
        <label>
          {t('Capacity')} <input type="number" min={0} placeholder={t('default')} {...field('capacity')} />
        </label>
        <label>
          {t('Departments')} <input placeholder={t('sales, billing')} {...field('departments')} />
        </label>
        <label>
          {t('Skills')} <input placeholder={t('spanish:3, billing:1')} {...field('skills')} />
        </label>
        <button type="submit">{t('Create')}</button>
      </form>
    </main>
  );
}
