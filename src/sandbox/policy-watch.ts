/**
 * Watching an agent's policy file: each valid new version is applied to the running agent; an
 * invalid one is rejected (`policy_rejected`) and the working policy stays.
 */
import { watch, type FSWatcher } from 'node:fs';
import { toSandboxError, type SandboxError } from '../errors.js';
import { loadPolicyFile } from '../policy/loader.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { checkMounts } from './policy-checks.js';

/** Watch `file`; edits settle for 50 ms before they are read. */
export function watchPolicyFile(file: string, on: { apply(policy: SandboxPolicy): void; reject(e: SandboxError): void }): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    loadPolicyFile(file)
      .then((loaded) => {
        checkMounts(loaded.policy);
        on.apply(loaded.policy);
      })
      .catch((e: unknown) => on.reject(toSandboxError(e)));
  };
  const w = watch(file, () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 50);
  });
  w.unref();
  return w;
}
