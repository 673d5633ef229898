import { seesEverything, type Actor } from '../agents/model.js';
import { forbidden } from '../errors.js';
import type { ConversationRow } from './model.js';

/** Agents see and act on the conversations assigned to them; supervisors, admins and Switchboard itself on all. */
export function assertCanAccess(actor: Actor, row: Pick<ConversationRow, 'id' | 'agent_id'>): void {
  if (seesEverything(actor) || row.agent_id === actor.id) return;
  throw forbidden(`conversation ${row.id} is not assigned to you`);
}
