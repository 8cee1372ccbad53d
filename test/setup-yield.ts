/**
 * After every test, one turn of the event loop. Vitest answers a test file's progress reports
 * over an RPC with a 60 s timeout; a file whose tests block synchronously one after another
 * (the CLI suites' spawnSync chains) never lets the reply in, and on a loaded machine the
 * timeout fires although every test passed.
 */
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
