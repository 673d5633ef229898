// Issue #22 (server CPU per create): the embedded broker drops a publish
// that nobody can hear, now or later, before serializing it (an API open's
// agent inbox, supervisors', assign and control topics, when no console or
// widget is connected). What someone can hear still goes out, byte for
// byte: a live subscription, a wildcard one, and a persistent session's
// subscription while it is offline, queued for its return.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('realtime: publishes nobody can hear', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));
  const login = async (options: Parameters<typeof makeAgent>[1]) => {
    const agent = await makeAgent(server.ctx, options);
    const answer = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(answer.status, 200);
    return { agent, token: answer.body.token as string };
  };
  const open = async (customerId: string, token: string) => {
    const answer = await http('POST', '/api/v1/conversations', { customer: { id: customerId } }, token);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    await server.realtime.publisher.idle();
    return answer.body as { id: string; state: string; agent_id: string | null };
  };
  const unheard = () => server.realtime.broker.unheard?.();

  it('are dropped; a live, a wildcard and an offline persistent subscription still get theirs', async () => {
    const t = server.realtime.topics;
    const { agent, token: agentToken } = await login({ status: 'online', capacity: 5 });
    const { token: supervisorToken } = await login({ role: 'supervisor' });

    // Nobody connected: the open's publishes (inbox, supervisors', assign, control) all go nowhere.
    const before = unheard();
    assert.equal(typeof before, 'number', 'the embedded broker counts what it drops');
    const first = await open('u1', supervisorToken);
    assert.equal(first.agent_id, agent.id);
    assert.ok(unheard()! - before! >= 4, `dropped ${unheard()! - before!}`);

    // The agent's console keeps a persistent session and goes away; a supervisor watches every event topic.
    const console1 = await connect(agentToken, { clientId: 'console-u', clean: false });
    assert.deepEqual(await console1.subscribe(t.agentEvents(agent.id), t.assign(agent.id)), [1, 1]);
    await console1.end();
    const watcher = await connect(supervisorToken);
    assert.deepEqual(await watcher.subscribe(t.full('events/#')), [1]);

    const dropped = unheard()!;
    const second = await open('u2', supervisorToken);
    assert.equal(second.agent_id, agent.id);
    // heard live through the wildcard, as JSON.stringify wrote the event
    const seen = await watcher.next(t.supervisorEvents('conversations'), (p) => p.type === 'conversation.assigned' && p.conversation?.id === second.id);
    assert.equal(seen.conversation.agent_id, agent.id);
    // only the control topic had nobody (the inbox and assign topics have the offline session)
    assert.equal(unheard()! - dropped, 1, 'only the widget control topic is dropped');

    // The console comes back and gets what was kept for it while it was away.
    const console2 = await connect(agentToken, { clientId: 'console-u', clean: false });
    const kept = await console2.next(t.agentEvents(agent.id), (p) => p.type === 'conversation.assigned' && p.conversation?.id === second.id);
    assert.deepEqual(kept, seen, 'the inbox and the supervisors get the same event');
    const assigned = await console2.next(t.assign(agent.id), (p) => p.conversation?.id === second.id);
    assert.equal(assigned.sessionTopic, t.session(second.id));
    // …and nothing of the first, opened before it subscribed
    assert.equal(console2.received.some((r) => r.payload?.conversation?.id === first.id), false);
  });

  it("keeps for a persistent session only the filters it was granted: a refused '#' beside them holds nothing", async () => {
    const t = server.realtime.topics;
    const { agent: subscriber, token: subscriberToken } = await login({ status: 'offline' });
    const { agent: serving } = await login({ status: 'online', capacity: 5 });
    const { token: supervisorToken } = await login({ role: 'supervisor' });
    // aedes stored every filter of the packet once one was granted: '#' then
    // heard (and queued) every publish of the broker for this session
    const greedy = await connect(subscriberToken, { clientId: 'greedy-u', clean: false });
    // one SUBSCRIBE packet holding both: mqtt.js calls back with an error for a SUBACK that refuses one
    const refused = await new Promise<Error | undefined>((resolve) => greedy.client.subscribe([t.agentEvents(subscriber.id), '#'], { qos: 1 }, (error) => resolve(error ?? undefined)));
    assert.ok(refused, "'#' was refused");
    await greedy.end();

    const dropped = unheard()!;
    const third = await open('u3', supervisorToken);
    assert.equal(third.agent_id, serving.id);
    // the new agent's inbox and assign topics and the widget's control topic: nobody's
    assert.ok(unheard()! - dropped >= 3, `dropped ${unheard()! - dropped}`);
  });

  it("forgets a persistent session's subscription refused when it is restored: the conversation moved to another agent meanwhile", async () => {
    const t = server.realtime.topics;
    const { agent: ann, token: annToken } = await login({ status: 'online', capacity: 5 });
    const { token: supervisorToken } = await login({ role: 'supervisor' });
    const held = await open('u4', supervisorToken);
    assert.equal(held.agent_id, ann.id);
    const topic = t.conversation(held.id, 'messages');
    const console1 = await connect(annToken, { clientId: 'holder-u', clean: false });
    assert.deepEqual(await console1.subscribe(topic), [1]);
    await console1.end();
    const { agent: bob } = await login({ status: 'online', capacity: 5 });
    const moved = await http('POST', `/api/v1/conversations/${held.id}/transfer`, { agent_id: bob.id }, supervisorToken);
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    await server.realtime.publisher.idle();

    // Ann's console comes back (her subscription is refused, not restored) and goes again
    const console2 = await connect(annToken, { clientId: 'holder-u', clean: false });
    await console2.end();
    // nothing is kept for her session on the topic: a publish there is heard by nobody
    const dropped = unheard()!;
    await server.realtime.broker.publish(topic, { probe: 1 });
    assert.equal(unheard()! - dropped, 1, 'dropped, not queued for a session that may no longer read it');
  });
});

// A server of its own: no session here ever keeps its subscriptions, so
// whether a topic is heard is decided at once, from the live subscriptions.
describeEachStore('realtime: publishes nobody can hear, with live subscriptions only', (store) => {
  let server: Running;
  const { http, connect } = realServerForBlock(store, (started) => ({ server } = started));

  it('builds nothing for a topic without a subscriber; one who subscribes later gets the next publish, the waiting list whole', async () => {
    const t = server.realtime.topics;
    const agent = await makeAgent(server.ctx, { status: 'online', capacity: 1 });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    const token = login.body.token as string;
    const open = async (customerId: string) => {
      const answer = await http('POST', '/api/v1/conversations', { customer: { id: customerId } }, token);
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      await server.realtime.publisher.idle();
      return answer.body as { id: string; state: string };
    };
    const console1 = await connect(token);
    assert.deepEqual(await console1.subscribe(t.agentEvents(agent.id), t.assign(agent.id)), [1, 1]);

    const before = server.realtime.broker.unheard?.();
    assert.equal(typeof before, 'number', 'the embedded broker counts what it drops');
    const first = await open('l1');
    assert.equal(first.state, 'assigned');
    // the console hears its own topics…
    const inbox = await console1.next(t.agentEvents(agent.id), (p) => p.type === 'conversation.assigned');
    assert.equal(inbox.conversation.id, first.id);
    assert.equal((await console1.next(t.assign(agent.id))).conversation.id, first.id);
    // …and nothing was built for the supervisors' topic, the control topic and the waiting list
    assert.ok(server.realtime.broker.unheard!() - before! >= 3, `dropped ${server.realtime.broker.unheard!() - before!}`);

    // Queued while nobody watched the waiting list: its refresh sent no list.
    const second = await open('l2');
    assert.equal(second.state, 'queued');
    assert.equal(console1.received.some((r) => r.topic === t.queueEvents()), false);
    // Subscribed afterwards, the console gets the next refresh's list, with both waiting.
    assert.deepEqual(await console1.subscribe(t.queueEvents()), [1]);
    const third = await open('l3');
    const list = await console1.next(t.queueEvents(), (p) => p.length === 2);
    assert.deepEqual(
      list.waiting.map((w: { id: string; position: number }) => [w.id, w.position]),
      [
        [second.id, 1],
        [third.id, 2],
      ],
    );
  });
});
