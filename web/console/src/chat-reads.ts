import { useEffect, useRef } from 'react';
import { api } from '../../shared/util';
import type { Live } from './live';
import type { Message } from './types';

// What the open chat (chat.tsx) reads besides its live topics: the whole
// history, and the conversation again when an event says it changed.

/** The largest page GET …/messages gives (docs/api.md, "Paging"). */
const PAGE = 500;

/**
 * Every message of a conversation after message `from` (0: all of them),
 * oldest first: the pages are read on from the last id of each full one. A
 * chat shown from its first page alone showed a long conversation's oldest
 * messages, added live ones after them and marked it read only that far.
 */
export async function readHistory(conversationId: string, token: string, from = 0): Promise<Message[]> {
  const messages: Message[] = [];
  for (let after = from; ; ) {
    const page = await api<Message[]>('GET', `/api/v1/conversations/${conversationId}/messages?after=${after}&limit=${PAGE}`, token);
    messages.push(...page);
    if (page.length < PAGE) return messages;
    after = page[page.length - 1]!.id;
  }
}

/**
 * Calls `reread` when an event about conversation `id` (resolved, transferred,
 * labelled…) comes on any topic the console hears: the agent's inbox, or
 * every conversation's for supervisors. The desk re-reads its lists on such
 * events and tells its chat, but a chat shown elsewhere (the Search page)
 * heard of none and kept a chat the customer had ended as assigned.
 */
export function useConversationEvents(live: Live | null, id: string, reread: () => void): void {
  const latest = useRef(reread);
  latest.current = reread;
  useEffect(() => {
    if (!live) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = live.on((_topic, data) => {
      if (typeof data?.type !== 'string' || !data.type.startsWith('conversation.') || data.conversation?.id !== id) return;
      // one read for events that come together (a transfer to an agent: transferred, then assigned)
      clearTimeout(timer);
      timer = setTimeout(() => latest.current(), 150);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [live, id]);
}
