import type { FormEvent } from 'react';
import type { ApiError } from '../../shared/util';
import { isAllowedTypeEntry, MAX_ALLOWED_TYPES, MAX_FILES_PER_MESSAGE, MAX_UPLOAD_BYTES } from '../../../src/files/limit-rules';
import { FieldError, FormFooter, LoadingPage, useFormErrors, useSettingsForm, type AdminProps } from './admin-kit';
import { formatNumber } from '../../shared/format';
import { t } from '../../shared/i18n';

// Admin: what may be uploaded (the attachments_* runtime settings): the
// largest file, shown in MB, the files one message may carry and the allowed
// types. The bounds are the server's own (src/files/limit-rules.ts): the size
// and the types are checked here, where the server's words would be bytes and
// a regular expression; anything else the server refuses is shown by its field.

interface Limits {
  attachments_max_bytes: number;
  attachments_max_files: number;
  attachments_allowed_types: string[];
}

type Draft = Record<keyof Limits, string>;
const FIELDS = ['attachments_max_bytes', 'attachments_max_files', 'attachments_allowed_types'] as const;
const ID = 'attachments';
const MB = 1024 * 1024;

/** Bytes as MB, exact enough to round-trip any stored value (100 bytes: 0.0000953674). */
const megabytes = (bytes: number) => String(Number((bytes / MB).toPrecision(6)));
const typesOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);
const limitsOf = (s: Limits): Limits => ({
  attachments_max_bytes: s.attachments_max_bytes,
  attachments_max_files: s.attachments_max_files,
  attachments_allowed_types: s.attachments_allowed_types,
});
const draftOf = (s: Limits): Draft => ({
  attachments_max_bytes: megabytes(s.attachments_max_bytes),
  attachments_max_files: String(s.attachments_max_files),
  attachments_allowed_types: s.attachments_allowed_types.join('\n'),
});
const refused = (field: string, message: string): ApiError => ({ status: 400, code: 'SB_VALIDATION', message, field });

/** The size in bytes, or the reason it cannot be one (as the server would refuse it). */
function sizeOf(text: string): number | ApiError {
  const mb = Number(text.trim());
  const bytes = Math.round(mb * MB);
  if (text.trim() === '' || !Number.isFinite(mb) || bytes < 1 || bytes > MAX_UPLOAD_BYTES) {
    return refused('attachments_max_bytes', t('Largest file must be a number of MB above 0 and at most {max}.', { max: MAX_UPLOAD_BYTES / MB }));
  }
  return bytes;
}

export function AttachmentsAdmin({ token, onError }: AdminProps) {
  const errors = useFormErrors(onError, ID, FIELDS);
  const { saved, draft, setDraft, notice, busy, start, save, undo } = useSettingsForm(token, errors, limitsOf, draftOf);

  if (!saved || !draft) {
    return <LoadingPage title={t('Attachments')} problem={errors.general} />;
  }

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    start();
    const patch: Record<string, unknown> = {};
    if (draft.attachments_max_bytes !== megabytes(saved.attachments_max_bytes)) {
      const bytes = sizeOf(draft.attachments_max_bytes);
      if (typeof bytes !== 'number') return errors.fail(bytes);
      patch.attachments_max_bytes = bytes;
    }
    // sent as typed: "2.5" or "" reach the server, which says what is wrong with them
    if (draft.attachments_max_files !== String(saved.attachments_max_files)) {
      patch.attachments_max_files = draft.attachments_max_files.trim() === '' ? null : Number(draft.attachments_max_files);
    }
    const types = typesOf(draft.attachments_allowed_types);
    if (types.join('\n') !== saved.attachments_allowed_types.join('\n')) {
      const wrong = types.find((t) => !isAllowedTypeEntry(t));
      if (wrong !== undefined) {
        return errors.fail(refused('attachments_allowed_types', t('"{entry}" is not a lowercase MIME type (image/png), family (image/*) or name extension (.docx).', { entry: wrong })));
      }
      patch.attachments_allowed_types = [...new Set(types)];
    }
    await save(patch, t('Saved. Uploads are held to the new limits now.'));
  };

  const input = (key: (typeof FIELDS)[number]) => ({
    id: `${ID}-${key}`,
    name: key,
    value: draft[key],
    onChange: (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value }),
    ...errors.describe(key),
  });
  const size = sizeOf(draft.attachments_max_bytes);

  return (
    <main className="admin">
      <h2>{t('Attachments')}</h2>
      <form className="settings-form" onSubmit={submit} noValidate aria-labelledby="attachments-title">
        <h3 id="attachments-title" className="visually-hidden">
          {t('Upload limits')}
        </h3>
        <div className="setting">
          <label htmlFor={`${ID}-attachments_max_bytes`}>{t('Largest file (MB)')}</label>
          <input {...input('attachments_max_bytes')} type="number" inputMode="decimal" step="any" />
          <small>
            {t('Agents and customers cannot upload a bigger file (at most {max} MB).', { max: MAX_UPLOAD_BYTES / MB })}{' '}
            {typeof size === 'number' && t('{bytes} bytes.', { bytes: formatNumber(size) })}
          </small>
          <FieldError errors={errors} field="attachments_max_bytes" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-attachments_max_files`}>{t('Files per message')}</label>
          <input {...input('attachments_max_files')} type="number" inputMode="numeric" />
          <small>{t('Uploaded files one message may carry (1–{max}).', { max: MAX_FILES_PER_MESSAGE })}</small>
          <FieldError errors={errors} field="attachments_max_files" idPrefix={ID} />
        </div>
        <div className="setting">
          <label htmlFor={`${ID}-attachments_allowed_types`}>{t('Allowed types')}</label>
          <textarea {...input('attachments_allowed_types')} rows={8} spellCheck={false} />
          <small>
            {t('One a line: a MIME type (application/pdf), a family (image/*) or a name extension (.docx); a file passes when its extension is listed, or when its type or family is and its name ends in an extension of that type (photo.png as image/png) or in none (up to {max}).', {
              max: MAX_ALLOWED_TYPES,
            })}
          </small>
          <FieldError errors={errors} field="attachments_allowed_types" idPrefix={ID} />
        </div>
        <FormFooter errors={errors} notice={notice} busy={busy} save={t('Save limits')} onUndo={undo} />
      </form>
    </main>
  );
}
