// A stand-in for RapidPro's mailroom callback endpoint, on 127.0.0.1. It
// applies mailroom's own checks to every callback — the exact
// `Authorization: Token <secret>`, a JSON body with `type` and `ticketID`,
// a ticket it knows — and answers as mailroom does; `down` makes it answer
// 500 until set back, as a mailroom being redeployed would, and `next`
// answers the next callbacks as a proxy in front of it might (410, 404…);
// `missingFiles` are attachment links it cannot download (mailroom fetches
// each and answers 400 when one fails).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Callback {
  type: string;
  ticketID: string;
  visitor: { token: string };
  data?: { text: string; attachments?: { type: string; url: string }[] };
}

export interface CallbackRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

export interface FakeMailroom {
  /** the callback URL RapidPro would set with PUT settings */
  url: string;
  /** every request, in arrival order, with the status it got */
  requests: CallbackRequest[];
  /** callbacks answered 200 {"status":"handled"}, in arrival order */
  handled: Callback[];
  /** answer 500 while true */
  down: boolean;
  /** answers for the next callbacks, one each, before any check */
  next: { status: number; body: unknown }[];
  /** tickets mailroom has open; others get 404 "no such ticket" */
  tickets: Set<string>;
  /** attachment URLs it cannot fetch: an agent-message carrying one gets 400, as from mailroom */
  missingFiles: Set<string>;
  close(): Promise<void>;
}

export async function startFakeMailroom(options: { uuid: string; secret: () => string }): Promise<FakeMailroom> {
  const path = `/mr/tickets/types/rocketchat/event_callback/${options.uuid}`;
  const mailroom: FakeMailroom = { url: '', requests: [], handled: [], down: false, next: [], tickets: new Set(), missingFiles: new Set(), close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = (status: number, json: unknown) => {
        mailroom.requests.push({ method: req.method!, path: req.url!, headers: req.headers, body, status });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (req.method !== 'POST' || req.url !== path) return answer(404, { error: `no route ${req.method} ${req.url}` });
      const scripted = mailroom.next.shift();
      if (scripted) return answer(scripted.status, scripted.body);
      if (mailroom.down) return answer(500, { error: 'mailroom is restarting' });
      if (req.headers.authorization !== `Token ${options.secret()}`) return answer(401, { status: 'unauthorized' });
      let callback: Partial<Callback>;
      try {
        callback = JSON.parse(body) as Partial<Callback>;
      } catch {
        return answer(400, { error: 'unable to parse request JSON' });
      }
      if (typeof callback.type !== 'string') return answer(400, { error: "field 'type' is required" });
      if (typeof callback.ticketID !== 'string') return answer(400, { error: "field 'ticketID' is required" });
      if (!mailroom.tickets.has(callback.ticketID)) return answer(404, { error: `no such ticket ${callback.ticketID}` });
      const missing = callback.type === 'agent-message' ? callback.data?.attachments?.find((a) => mailroom.missingFiles.has(a.url)) : undefined;
      if (missing) return answer(400, { error: `error fetching ticket file '${missing.url}': unable to fetch file: 404 Not Found` });
      mailroom.handled.push(callback as Callback);
      return answer(200, { status: 'handled' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mailroom.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  mailroom.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return mailroom;
}
