import type { Queryable } from '../store/db.js';

// Each agent's notification preferences, kept on the server so they follow
// the agent from browser to browser. The console reads them to decide, when
// its tab is hidden, whether to beep and whether to show a desktop
// notification; the browser's own permission still decides the latter.

export interface Channels {
  sound: boolean;
  desktop: boolean;
}

export interface NotificationPreferences {
  /** a conversation was just assigned, or offered (offer mode), to the agent */
  assignment: Channels;
  /** the customer wrote in a conversation the agent holds */
  customer_message: Channels;
}

export const DEFAULT_PREFERENCES: NotificationPreferences = {
  assignment: { sound: true, desktop: true },
  customer_message: { sound: true, desktop: true },
};

interface Row {
  assignment_sound: boolean;
  assignment_desktop: boolean;
  message_sound: boolean;
  message_desktop: boolean;
}

const fromRow = (row: Row): NotificationPreferences => ({
  assignment: { sound: row.assignment_sound, desktop: row.assignment_desktop },
  customer_message: { sound: row.message_sound, desktop: row.message_desktop },
});

export async function getPreferences(db: Queryable, agentId: string): Promise<NotificationPreferences> {
  const [row] = await db.query<Row>('select * from notification_preferences where agent_id = $1', [agentId]);
  return row ? fromRow(row) : DEFAULT_PREFERENCES;
}

/** Replaces the agent's preferences whole (the body was validated by its schema). */
export async function putPreferences(db: Queryable, agentId: string, prefs: NotificationPreferences, now: Date): Promise<NotificationPreferences> {
  const [row] = await db.query<Row>(
    `insert into notification_preferences (agent_id, assignment_sound, assignment_desktop, message_sound, message_desktop, updated_at)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (agent_id) do update
       set assignment_sound = excluded.assignment_sound, assignment_desktop = excluded.assignment_desktop,
           message_sound = excluded.message_sound, message_desktop = excluded.message_desktop, updated_at = excluded.updated_at
     returning *`,
    [agentId, prefs.assignment.sound, prefs.assignment.desktop, prefs.customer_message.sound, prefs.customer_message.desktop, now],
  );
  return fromRow(row!);
}
