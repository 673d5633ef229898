import { Type } from '@sinclair/typebox';
import { Skills, StringMap } from '../http/schemas.js';
import { LABEL_NAME_AS_SENT, LABEL_NAME_MAX } from './limits.js';

// Request and response shapes of the label routes (they feed OpenAPI too).

const Timestamp = Type.String({ format: 'date-time' });
export const LabelName = Type.String({ minLength: 1, maxLength: LABEL_NAME_AS_SENT, description: `at most ${LABEL_NAME_MAX} characters in Unicode NFC; unique whatever its case or Unicode form (stored in NFC); no commas, semicolons, control or invisible formatting characters (but for the zero-width joiner inside emoji, the tags of a subdivision flag and the zero-width non-joiner between letters of a joining or Indic script)` });
const Color = Type.String({ pattern: '^#[0-9a-fA-F]{6}$', description: '#rrggbb (stored in lower case)' });

const RequiredSkills = StringMap(Type.Integer(), {
  description: 'skill → minimum level (1–10, the agents\' scale) an open conversation carrying the label needs (docs/routing.md#skills)',
});
export const Label = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  color: Type.String(),
  required_skills: RequiredSkills,
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const NewLabelBody = Type.Object({ name: LabelName, color: Color, required_skills: Type.Optional(Skills) }, { additionalProperties: false });

export const LabelPatchBody = Type.Object(
  { name: Type.Optional(LabelName), color: Type.Optional(Color), required_skills: Type.Optional(Skills) },
  { additionalProperties: false, minProperties: 1 },
);

export const ConversationLabelsBody = Type.Object(
  { labels: Type.Array(LabelName, { maxItems: 50, uniqueItems: true, description: 'the complete new set, by name; [] removes them all' }) },
  { additionalProperties: false },
);

export const LabelCount = Type.Object({
  name: Type.String(),
  color: Type.String(),
  open: Type.Integer({ minimum: 0, description: 'queued, offered or assigned conversations carrying it now' }),
  total: Type.Integer({ minimum: 0, description: 'all conversations carrying it' }),
});
