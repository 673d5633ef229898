// Usage text for the three simulation commands.

const MODEL = `traffic:
  --arrivals-per-hour N    Poisson arrival rate
  --load RHO               or (simulate): the occupancy to aim for (rate = RHO × slots ÷ handle time)
  --arrivals N             how many customers to simulate (default: 10000; plan: 5000)
  --day-profile LIST       rate multipliers over a day, e.g. 24 comma-separated values (one per hour)
  --departments MIX        department mix of arrivals, e.g. sales=0.7,support=0.3
  --trace FILE             replay recorded arrivals (CSV or JSON: at,department,priority,handle_s,patience_s[,skills,customer_id,labels])
  --trace-format csv|json  (default: from the file name)
customers:
  --handle-time-s S        mean handle time (default 300; at most a year, 31536000)
  --handle-dist D          exponential (default), lognormal or fixed; a trace's handle_s wins
  --handle-cv CV           lognormal coefficient of variation (default 1, at most 10)
  --patience-s S           mean patience (exponential, at most a year); without it nobody abandons
  --priorities MIX         priority mix of arrivals, priorities 0–10, e.g. 0=0.8,3=0.2 (default: all 0)
  --arrival-skills MIX     share of arrivals requiring a skill, e.g. spanish:2=0.3,billing:1=0.1
  --label-skills MAP       with --trace, the skills each label requires, e.g. vip=billing:2+spanish:1,es=spanish:2
  --returning-share F      share of arrivals who are one of the 20 customers before them (sticky routing)
agents:
  --agents N               number of agents (default 10)
  --capacity K             conversations each handles at once (default 1)
  --agent-departments LIST departments the agents serve, e.g. sales,support
  --shift HH:MM-HH:MM      daily shift (UTC of the virtual clock); off shift = away
  --agent-skills SKILLS    the agents' skills, e.g. spanish:3+billing:1
  --group SPEC             a group of agents, repeatable: count=5,capacity=2,departments=sales|support,shift=08:00-16:00,skills=spanish:3
routing (docs/routing.md; the settings of PUT /api/v1/departments/:name/routing):
  --routing DEPT:SETTINGS  repeatable, e.g. sales:mode=offer,offer_timeout_s=20 or
                           sales:overflow=support@60|billing@300 or help:required_skills=spanish:2,skills_relax_after_s=60
  --routing-file FILE      JSON {"sales": {...the body of PUT /departments/sales/routing...}}; --routing wins per field
  --offer-accept-s S       offer mode: seconds an agent takes to answer an offer (default 5)
  --offer-decline-share F  offer mode: share of offers declined (default 0)
  --offer-miss-share F     offer mode: share of offers left to run out (default 0)
  --pick-delay-s S         manual mode: seconds after an agent has room until they pick (default 5)
run:
  --seed N                 random seed (default 1): the same seed gives the same result
  --warmup F               share of the first arrivals left out of the figures (default 0.05; 0 for a trace)
  --target-s S             service-level target time (default 20)
  --target-share F         service-level target share, 0–1 (default 0.8)
  --sweep-s S              run the engine's sweep every S virtual seconds, 0.05–86400 (default 300; 0 = never)
  --json                   print one JSON object instead of a table
  --progress               report progress on stderr`;

export const SIMULATE_HELP = `usage: switchboard simulate [flags]

Replays traffic through the real allocation engine (the same code and SQL as
the server) on an in-memory store with a virtual clock.

${MODEL}
output:
  --svg FILE               write a picture of queue length and wait over time
  --save-trace FILE        export this run's own history as a trace (what export-trace would write)
  --check-erlang           compare with Erlang C (needs Poisson arrivals, exponential
                           handle times, no patience, departments or shifts)

examples:
  switchboard simulate --arrivals-per-hour 100 --handle-time-s 300 --agents 5 --capacity 2 --svg run.svg
  switchboard simulate --check-erlang --agents 2 --capacity 2 --load 0.8 --arrivals 50000
  switchboard simulate --trace history.csv --agents 8 --capacity 3
`;

export const PLAN_HELP = `usage: switchboard plan [flags]

The smallest number of agents (each with --capacity) that meets the
service-level target, found by simulation, with Erlang C's answer beside it.
The same flags as simulate, except --agents and --load (plan looks for the
team, so there is no occupancy to aim for: give --arrivals-per-hour). With
several --group flags, --size-group N says which group to size (1 for the
first), the others stay as given, and the search starts from the group's
given count. The plan states the routing policy it assumed.

${MODEL}
  --max-agents N           give up above this many agents (default 1000)
  --size-group N           with several --group flags: the group to size

examples:
  switchboard plan --arrivals-per-hour 240 --handle-time-s 300 --capacity 2 --target-s 20 --target-share 0.8
  switchboard plan --arrivals-per-hour 44 --departments sales=0.65,support=0.35 \
    --group count=3,departments=sales --group count=3,departments=support --size-group 1 \
    --routing sales:overflow=support@60 --target-s 20 --target-share 0.8
`;

export const EXPORT_HELP = `usage: switchboard export-trace [flags]

Writes Switchboard's conversation history (DATABASE_URL, or the embedded store
in DATA_DIR) as a trace that simulate --trace replays.

  --out FILE               where to write (default: standard output)
  --format csv|json        (default: from --out's name, else csv)
  --from TIME              only conversations created at or after this time: a date
                           (2026-01-05, from midnight UTC) or a date-time with its offset
                           (2026-01-05T09:00:00Z), as the reports API takes them
  --to TIME                only conversations created before this time
`;
