// Imported for its effect: passwords are hashed at a test cost (1 MiB)
// instead of OWASP's 128 MiB. In every test process (through stores.ts),
// and in the server processes the tests start (process-server.ts loads it
// with `--import`): the load tests' set-up creates and logs in twenty
// agents a server, 40 hashes of 128 MiB that took a minute of a two-core
// machine's time per file. A cheaper hash tests nothing less there; the
// cost itself is test/unit/passwords.test.ts's subject.
import { setPasswordCostForTests } from '../../src/agents/passwords.js';

export const TEST_PASSWORD_COST = { N: 1024, r: 8, p: 1 };
setPasswordCostForTests(TEST_PASSWORD_COST);
