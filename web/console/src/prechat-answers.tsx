import { useEffect, useState } from 'react';
import type { PrechatField } from '../../../src/prechat/rules';
import { api } from '../../shared/util';
import { t } from '../../shared/i18n';

// The customer's custom fields in the customer panel: the pre-chat form's
// answers under the form's own labels (a ticked box reads "Yes"), in the
// form's order; fields the form does not have (set by a channel or the API,
// or from a field since removed) follow under their key.

let formRead: Promise<PrechatField[]> | undefined;
/** The form, read once per page: its labels change rarely, and a stale label only names a field less well. */
const readForm = () => (formRead ??= api<{ fields: PrechatField[] }>('GET', '/api/v1/prechat-form').then((f) => f.fields, () => []));

export function CustomerFields({ fields }: { fields: Record<string, string> }) {
  const [form, setForm] = useState<PrechatField[]>([]);
  useEffect(() => {
    let live = true;
    void readForm().then((f) => live && setForm(f));
    return () => {
      live = false;
    };
  }, []);
  const byKey = new Map(form.map((f, i) => [f.key, { field: f, order: i }]));
  const entries = Object.entries(fields).sort(([a], [b]) => (byKey.get(a)?.order ?? Infinity) - (byKey.get(b)?.order ?? Infinity));
  return (
    <>
      {entries.map(([key, value]) => {
        const field = byKey.get(key)?.field;
        return (
          <div key={key} className="field" data-testid="customer-field" data-key={key}>
            <dt>{field?.label ?? key}</dt>
            <dd>{field?.type === 'checkbox' ? (value === 'true' ? t('Yes') : t('No'))
 : value}</dd>
          </div>
        );
      })}
    </>
  );
}
