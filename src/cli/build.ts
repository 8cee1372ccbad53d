/**
 * `agentos build`: turn a JavaScript, C, Python or WAT agent into a component of our world.
 */
import { buildAgent } from '../build/index.js';
import { UsageError } from '../errors.js';
import { parse, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS } from './flags.js';

export const BUILD_HELP = `Usage: agentos build <agent.js|agent.c|agent.py|agent.wat> -o <agent.wasm> [options]

Build an agent into a WebAssembly component targeting the world agent-os:sandbox/agent
(export run: func(task: string) -> result<string, string>).

  .js / .mjs   componentized with StarlingMonkey (default; has fetch) or QuickJS
  .c           compiled with clang-22 for wasm32-wasi (needs: apt-get install clang-22 lld-22
               wasi-libc libclang-rt-22-dev-wasm32), then wrapped with the WASI reactor adapter
  .py          CPython + the module's directory + the agent_os helper package, with
               componentize-py 0.25.x (needs: python3 -m pip install componentize-py==0.25.1;
               agentos doctor says whether it is found). The module defines
               run(task: str) -> str; raising an exception returns an error (AGENT_ERROR).
               Files through open(), HTTP through agent_os.fetch (wasi:http), tools through
               agent_os.call_tool, logs through agent_os.info/warn/... (≈ 18 MiB, 10-20 s)
  .wat         a core module in text form, wrapped as a component

Options:
  -o, --out FILE        output component path (required)
  --backend NAME        JavaScript engine: starlingmonkey (default) or quickjs (smaller and
                        faster per call, no fetch and no wasi:http)
  --wit DIR             build against this WIT package instead of ours, with
  --world NAME          its world NAME (default agent). The world must still export our run;
                        it may export more functions and interfaces, which agentos mcp and
                        the framework adapters serve as typed tools (agent.call in the library)
  --no-precompile       do not also compile it for the wasmtime engine; by default, where
                        the wasmtime addon is installed, the component is metered and
                        compiled into the artifact cache of the default cache directory, so
                        its first load with --engine wasmtime finds the compiled code
  --json                print one JSON object
  -h, --help            show this help`;

/** The options of `agentos build`. */
export const BUILD_OPTIONS = { out: FLAGS.out, backend: { type: 'string' }, wit: { type: 'string' }, world: { type: 'string' }, 'no-precompile': { type: 'boolean' }, json: FLAGS.json, help: FLAGS.help } as const;

/** Run the command. */
export async function buildCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, BUILD_OPTIONS, 'build');
    if (values.help) {
      process.stdout.write(BUILD_HELP + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('agentos build takes exactly one source file; see `agentos build --help`');
    if (!values.out) throw new UsageError('agentos build needs -o <agent.wasm>');
    const backend = values.backend;
    if (backend !== undefined && backend !== 'starlingmonkey' && backend !== 'quickjs') {
      throw new UsageError(`--backend ${JSON.stringify(backend)}: expected starlingmonkey or quickjs`);
    }
    if (values.world !== undefined && !/^[a-z][a-z0-9-]*$/.test(values.world)) throw new UsageError(`--world ${JSON.stringify(values.world)}: expected a WIT world name (lowercase letters, digits and -)`);
    if (values.world !== undefined && values.wit === undefined) throw new UsageError('--world names a world of the --wit package: give --wit DIR too');
    const r = await buildAgent(positionals[0]!, values.out, {
      ...(backend ? { backend } : {}),
      ...(values.wit !== undefined ? { witDir: values.wit, world: values.world ?? 'agent' } : {}),
      precompile: values['no-precompile'] !== true,
      ...(json ? {} : { onLog: (line: string) => process.stderr.write(safeText(line) + '\n') }),
    });
    if (json) process.stdout.write(JSON.stringify({ ok: true, ...r }) + '\n');
    return 0;
  } catch (e) {
    return reportError(e, json);
  }
}
