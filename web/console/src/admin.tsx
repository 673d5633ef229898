import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../../shared/util';
import { TableHead, type AdminProps } from './admin-kit';
import { EmailAdmin } from './admin-email';
import { HoursAdmin } from './admin-hours';
import { PrechatAdmin } from './admin-prechat';
import { QiscusAdmin } from './admin-qiscus';
import { LabelsAdmin } from './labels';
import { SettingsAdmin } from './admin-settings';
import { TicketersAdmin } from './admin-ticketers';
import { WebhooksAdmin } from './admin-webhooks';
import { WidgetAdmin } from './admin-widget';
import type { Agent, Role } from './types';

// Admin pages (admins only): the agents, their role, capacity and
// departments here; settings, webhooks, RapidPro and Qiscus in admin-*.tsx.

/** The admin pages, in the order of the navigation. */
export const ADMIN_PAGES = [
  { path: '/admin/agents', label: 'Agents', Page: AgentsAdmin },
  { path: '/admin/settings', label: 'Settings', Page: SettingsAdmin },
  { path: '/admin/prechat', label: 'Pre-chat form', Page: PrechatAdmin },
  { path: '/admin/labels', label: 'Labels', Page: LabelsAdmin },
  { path: '/admin/widget', label: 'Widget', Page: WidgetAdmin },
  { path: '/admin/hours', label: 'Business hours', Page: HoursAdmin },
  { path: '/admin/webhooks', label: 'Webhooks', Page: WebhooksAdmin },
  { path: '/admin/ticketers', label: 'RapidPro', Page: TicketersAdmin },
  { path: '/admin/qiscus', label: 'Qiscus', Page: QiscusAdmin },
  { path: '/admin/email', label: 'Email', Page: EmailAdmin },
] as const;

export const adminPageAt = (path: string) => ADMIN_PAGES.find((p) => p.path === path);

const splitDepartments = (text: string) => [...new Set(text.split(',').map((d) => d.trim()).filter(Boolean))];

export function AgentsAdmin({ token, onError }: AdminProps) {
  const [agents, setAgents] = useState<Agent[]>([]);
  const [form, setForm] = useState({ name: '', email: '', password: '', role: 'agent' as Role, capacity: '', departments: '' });
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
      });
      setForm({ name: '', email: '', password: '', role: 'agent', capacity: '', departments: '' });
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
    if (!confirm(`Remove ${agent.name}? Their open conversations go back to the queue.`)) return;
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
      <h2>Agents</h2>
      <div className="table-wrap">
        <table>
          <TableHead columns={['Name', 'Email', 'Role', 'Status', 'Load / capacity', 'Departments']} actions />
          <tbody>
            {agents.map((a) => (
              <tr key={a.id}>
                <td>{a.name}</td>
                <td>{a.email}</td>
                <td>
                  <select aria-label={`Role of ${a.name}`} value={a.role} onChange={(e) => void patch(a.id, { role: e.target.value })}>
                    <option value="agent">agent</option>
                    <option value="supervisor">supervisor</option>
                    <option value="admin">admin</option>
                  </select>
                </td>
                <td>{a.status}</td>
                <td>
                  {a.load} /{' '}
                  <input
                    key={`${a.id}-${a.capacity}`}
                    aria-label={`Capacity of ${a.name}`}
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
                  <input
                    key={`${a.id}-${a.departments.join()}`}
                    aria-label={`Departments of ${a.name}`}
                    placeholder="none: serves conversations without a department"
                    defaultValue={a.departments.join(', ')}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') e.currentTarget.blur();
                    }}
                    onBlur={(e) => {
                      const next = splitDepartments(e.target.value);
                      if (next.join() !== a.departments.join()) void patch(a.id, { departments: next });
                    }}
                  />
                </td>
                <td>
                  <button type="button" className="secondary" onClick={() => void remove(a)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>New agent</h3>
      <form className="grid-form" onSubmit={create}>
        <label>
          Name <input required maxLength={200} {...field('name')} />
        </label>
        <label>
          Email <input required type="email" {...field('email')} />
        </label>
        <label>
          Password <input required type="password" minLength={8} autoComplete="new-password" {...field('password')} />
        </label>
        <label>
          Role
          <select {...field('role')}>
            <option value="agent">agent</option>
            <option value="supervisor">supervisor</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label>
          Capacity <input type="number" min={0} placeholder="default" {...field('capacity')} />
        </label>
        <label>
          Departments <input placeholder="sales, billing" {...field('departments')} />
        </label>
        <button type="submit">Create</button>
      </form>
    </main>
  );
}
