/**
 * The OCI alternative for native agents (issue 13, item 9): a runtime-spec `config.json` from
 * the same policy decisions as the bubblewrap path, and a bundle on disk for runc.
 *
 * @example
 * ```ts
 * import { ociSpec, writeBundle } from './container/oci/index.js';
 * await writeBundle(dir, ociSpec(policy, { command: ['python3', '/agent/main.py'], rootfs: 'rootfs' }));
 * ```
 */
export {
  ociSpec, OCI_VERSION, OCI_NAMESPACES, OCI_MASKED_PATHS, OCI_READONLY_PATHS, RUNNER_LIMITS, ANNOTATION_PREFIX, SETUP_HOST_ID,
  type OciSpec, type OciSpecOptions, type OciRlimit, type OciIdMapping,
} from './spec.js';
export {
  ociMounts, ociSystemMounts, ociDeviceRules, OCI_DEVICES, BUNDLE_FILES, BUNDLE_FILE_CONTENTS,
  type OciMount, type OciDevice, type OciDeviceRule, type OciFiles,
} from './mounts.js';
export { writeBundle, writeBundleFiles, mountPoints } from './bundle.js';
