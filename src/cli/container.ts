/**
 * `agentos container spec`: the OCI runtime-spec `config.json` of a native agent under a
 * policy, for people who run containerd, Kubernetes or runc themselves (issue 13, item 9).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { emptyPolicy, loadPolicyFile } from '../policy/loader.js';
import { ociSpec, writeBundle } from '../container/oci/index.js';
import { parse, reportError, type ExitStatus } from './common.js';
import { FLAGS, flagLine } from './flags.js';
import { applyMount } from './run.js';
import { splitCommand } from './run-native.js';

/** The options of `agentos container spec`. */
export const CONTAINER_SPEC_OPTIONS = {
  policy: FLAGS.policy,
  mount: { type: 'string', multiple: true },
  'runner-limits': { type: 'boolean' },
  out: FLAGS.out,
  json: FLAGS.json,
  help: FLAGS.help,
} as const;

export const CONTAINER_HELP = `Usage: agentos container spec [--policy FILE] [--mount GUEST=HOST[:ro|:rw]]... [-o FILE] [--json] -- CMD [ARGS...]

Print the OCI runtime-spec config.json that runs CMD as a native agent under the policy, made
from the same decisions as 'agentos run --native' (bubblewrap): uid/gid 65534 (mapped to 65534
on the host), no capabilities, noNewPrivileges, rlimits (NOFILE 100, CORE 0, FSIZE from
maxFileSize), a read-only root with /usr and a minimal /etc, /proc, a minimal /dev, /tmp
capped at diskQuota (default 64 MiB), the policy's mounts with their mode and masks, new pid,
network, ipc, uts, mount, cgroup and user namespaces, masked and read-only /proc paths, the
seccomp profile, and linux.resources (maxMemory with swap off, maxProcesses, the seeds' CPU
share and quota). A rule the config cannot enforce exactly is refused (exit 2), naming it.

The config binds files/passwd, files/group, files/hosts and files/empty relative to the
bundle, and its root is "rootfs": an empty directory with a mount point for each mount (runc
cannot make them, as its setup runs unprivileged). -o FILE writes the whole bundle: FILE,
and beside it files/ and rootfs/. Run it with rootful runc (rootless runc cannot set the
resources). agentos enforces maxExecutionTime, maxCpuTime and maxOutputBytes while it runs an
agent; a config has no field for them, so a policy that sets one is refused unless
--runner-limits says whoever runs the container enforces them. A tool grant has no channel
in the config (the agent gets no tools).

Options:
${flagLine(CONTAINER_SPEC_OPTIONS.policy)}
  --mount GUEST=HOST[:ro|:rw]
                         make host directory HOST visible at GUEST (read-only unless :rw);
                         grants read_files (and write_files for :rw); repeatable
  --runner-limits        the runner that starts the container enforces maxExecutionTime,
                         maxCpuTime and maxOutputBytes: keep them as annotations
                         (org.agentos.resourceLimits.*) instead of refusing the policy
${flagLine(CONTAINER_SPEC_OPTIONS.out, 'write the config to FILE and make the bundle around it (files/, rootfs/)')}
${flagLine(CONTAINER_SPEC_OPTIONS.json, 'print one JSON object: the config on one line (with -o: {ok, config, bundle, rootfs})')}
${flagLine(CONTAINER_SPEC_OPTIONS.help)}

Exit status: 0 ok, 2 bad input or a policy rule the config cannot enforce, 4 a mount the
sandbox user (65534) may not use.

Example:
  agentos container spec --policy policy.yaml --mount /agent=./agent -o bundle/config.json -- python3 -I /agent/main.py
  runc run --bundle bundle agent-1`;

/** Run the command. */
export async function containerCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError('agentos container needs a subcommand: spec; see `agentos container --help`');
    if (sub === '--help' || sub === '-h') {
      process.stdout.write(CONTAINER_HELP + '\n');
      return 0;
    }
    if (sub !== 'spec') throw new UsageError(`unknown container subcommand ${JSON.stringify(sub)}; see \`agentos container --help\``);
    const { options, command } = splitCommand(rest);
    const { values, positionals } = parse(options, CONTAINER_SPEC_OPTIONS, 'container spec');
    if (values.help) {
      process.stdout.write(CONTAINER_HELP + '\n');
      return 0;
    }
    if (positionals.length > 0) throw new UsageError('agentos container spec takes the command after --, e.g. agentos container spec -- python3 /agent/main.py');
    if (command.length === 0) throw new UsageError('agentos container spec needs the command after --, e.g. agentos container spec -- python3 /agent/main.py');
    let policy = values.policy !== undefined ? (await loadPolicyFile(values.policy)).policy : emptyPolicy();
    for (const spec of values.mount ?? []) policy = applyMount(policy, spec);
    const config = ociSpec(policy, { command, rootfs: 'rootfs', runnerLimits: values['runner-limits'] === true });
    if (values.out === undefined) {
      process.stdout.write((json ? JSON.stringify(config) : JSON.stringify(config, null, 2)) + '\n');
      return 0;
    }
    const out = resolve(values.out);
    const bundle = dirname(out);
    await writeBundle(bundle, config, { configFile: basename(out) });
    const rootfs = join(bundle, config.root.path);
    process.stdout.write(json ? JSON.stringify({ ok: true, config: out, bundle, rootfs }) + '\n' : `wrote ${out}, the files it binds (${join(bundle, 'files')}) and the mount points in ${rootfs}\nrun it as root: runc run --bundle ${bundle} <id>\n`);
    return 0;
  } catch (e) {
    return reportError(e, json);
  }
}
