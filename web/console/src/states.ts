import { t } from '../../shared/i18n';

/** A conversation's state as the agent reads it, in the console's language. */
export function stateName(state: string): string {
  switch (state) {
    case 'queued':
      return t('queued');
    case 'offered':
      return t('offered');
    case 'assigned':
      return t('assigned');
    case 'resolved':
      return t('resolved');
    case 'abandoned':
      return t('abandoned');
    default:
      return state;
  }
}

/** Who wrote a message, as its line in the chat names them. */
export function senderName(sender: string): string {
  switch (sender) {
    case 'agent':
      return t('agent');
    case 'system':
      return t('system');
    case 'bot':
      return t('bot');
    default:
      return sender;
  }
}

/**
 * Why a conversation was closed, from the `resolve_reason` the server wrote
 * (sb_close_conversation's callers in src/), as the agent reads it. A code
 * this console does not know yet is shown as written rather than hidden.
 */
export function reasonName(reason: string): string {
  switch (reason) {
    case 'agent':
      return t('resolved by an agent');
    case 'customer':
      return t('the customer ended the chat');
    case 'expired':
      return t('the customer left: their chat window stopped answering');
    case 'unavailableAttendants':
      return t('no agent who could take it was online');
    case 'replaced':
      return t('replaced by a newer RapidPro ticket from the same contact');
    case 'rapidpro':
      return t('closed in RapidPro');
    case 'ticketer_deleted':
      return t('its RapidPro ticketer was deleted');
    case 'qiscus':
      return t('resolved in Qiscus');
    case 'qiscus_resolved':
      return t('Qiscus had already resolved the room');
    case 'qiscus_failed':
      return t('given up: Qiscus kept refusing to assign an agent');
    default:
      return reason;
  }
}
