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
