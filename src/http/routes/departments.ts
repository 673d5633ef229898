import { Type, type Static } from '@sinclair/typebox';
import { changeDepartmentRouting, readDepartmentRouting, type DepartmentRoutingChange } from '../../routing/department-settings.js';
import { assertNotChannelQueue } from '../../routing/channel-queues.js';
import { requireAgent } from '../auth.js';
import type { App, AppDeps } from '../deps.js';
import { DEPARTMENT_PATTERN, errorResponses, Skills } from '../schemas.js';

const naming = { minLength: 1, maxLength: 100, pattern: DEPARTMENT_PATTERN, description: 'the department, as agents and conversations name it' };
// Written as Department is (not blank); read as any name stored before blanks were refused.
const Name = Type.String({ ...naming, notBlank: true });
const StoredName = Type.String(naming);
const Seconds = (max: number, description: string) => Type.Integer({ minimum: 0, maximum: max, description });
const Nullable = <T extends ReturnType<typeof Type.Integer>>(schema: T) => Type.Union([schema, Type.Null()]);
const Mode = Type.Union([Type.Literal('auto'), Type.Literal('offer'), Type.Literal('manual')], {
  description: 'auto: assigned at once; offer: the agent must accept within offer_timeout_s; manual: agents pick from the queue',
});
const ManualOrder = Type.Union([Type.Literal('in_order'), Type.Literal('any')], { description: "manual mode: only the queue's head can be picked, or any waiting conversation" });
const Overflow = Type.Array(
  Type.Object(
    {
      after_s: Seconds(86_400, 'seconds waited before agents of `to` may serve the conversation too'),
      to: Name,
    },
    { additionalProperties: false },
  ),
  { maxItems: 10 },
);

const fields = {
  mode: Mode,
  sticky_window_s: Seconds(31_536_000, "a returning customer goes back to their last agent when that conversation ended within this many seconds; 0: off"),
  sticky_wait_s: Seconds(3_600, 'how long a returning customer waits for their last agent when busy or away; 0: routed normally at once'),
  offer_timeout_s: Type.Integer({ minimum: 5, maximum: 3_600, description: 'offer mode: seconds an agent has to accept' }),
  offer_expiries_before_away: Type.Integer({ minimum: 1, maximum: 100, description: 'offer mode: offers let expire in a row before the agent is set away' }),
  manual_order: ManualOrder,
  overflow: Overflow,
  aging_per_min: Type.Number({ minimum: 0, maximum: 1_000, description: 'priority gained per minute of waiting; 0: off' }),
  sla_first_response_s: Nullable(Type.Integer({ minimum: 1, maximum: 86_400, description: 'first response target in seconds; null: none' })),
  required_skills: Skills,
  skills_relax_after_s: Nullable(Type.Integer({ minimum: 0, maximum: 86_400, description: 'seconds after which a conversation no agent has the skills for drops the requirement; null: never' })),
};

/**
 * The body of PUT /departments/:name/routing; the simulator checks its
 * --routing flags against it too. An empty one changes nothing, yet would
 * store the department's row and tell everyone its settings changed.
 */
export const RoutingChange = Type.Partial(Type.Object(fields, { additionalProperties: false }), { additionalProperties: false, minProperties: 1 });
const Routing = Type.Object({ department: Type.String(), ...fields });

export function departmentRoutes(app: App, { ctx }: AppDeps): void {
  const tags = ['departments'];
  const params = Type.Object({ name: Name });
  app.get(
    '/api/v1/departments/:name/routing',
    {
      schema: { tags, summary: "A department's effective routing settings (defaults for what was never set)", params: Type.Object({ name: StoredName }), response: { 200: Routing, ...errorResponses } },
      onRequest: requireAgent(ctx),
    },
    async (request) => ({ department: request.params.name, ...(await readDepartmentRouting(ctx.db, request.params.name)) }),
  );
  app.put(
    '/api/v1/departments/:name/routing',
    {
      schema: {
        tags,
        summary: "Change a department's routing settings (admin): the fields sent are set, the others kept; answers the effective settings",
        params,
        body: RoutingChange,
        response: { 200: Routing, ...errorResponses },
      },
      onRequest: requireAgent(ctx, ['admin']),
    },
    async (request) => {
      // the engine does not route a channel's own queue: its settings would change nothing
      assertNotChannelQueue('name', request.params.name);
      const change = request.body as Static<typeof RoutingChange> as DepartmentRoutingChange;
      return { department: request.params.name, ...(await changeDepartmentRouting(ctx, request.params.name, change, request.actor.id)) };
    },
  );
}
