/**
 * Fuzz target: the audit log's verifiers and decoders against corrupted data.
 *
 * Two real LevelDB audit logs are written once per process by the project's writer (one from
 * genesis, one pruned behind a retention anchor; see `fuzz/lib/audit-logs.mjs`), and exported.
 * Inputs, by weight:
 * - `store`: patch 1–3 stored values (flip, truncate, extend, insert or replace bytes, write
 *   u32/f64 fields, edit JSON fields, delete, copy another value, add a key) of blocks, Merkle
 *   nodes, the head, checkpoints, the meta record or the anchor; verify (`verifyStore`, with or
 *   without hashing workers, deep or not, with a trusted checkpoint or not; sometimes through the
 *   public `verifyAuditLog`, which reads a snapshot); restore;
 * - `export`: drop, duplicate, swap or edit lines and bytes of an exported file (line endings
 *   varied) and verify it offline (`verifyExport`, with the header's key, the right or a wrong one);
 * - `decode`: the pure decoders on mutated real values or random bytes (blocks, heads,
 *   checkpoints, records), blocks against a reference layout parser and `checkRecords` against a
 *   reference of the record checks;
 * - `records`: synthetic blocks of version-1/2 records with odd sequence numbers, timestamps and
 *   links (hashes recomputed), `checkRecords` on both digest sources against the reference.
 *
 * The property: a typed verdict — a `VerifyReport` whose `ok` is true exactly when it lists no
 * problems, each with a known code (or, from the public path on a broken meta record,
 * `AUDIT_UNAVAILABLE`) — never another exception, never more than 10 s; any change to a block,
 * the head or a stored node (or to an export's record lines under an intact header) is found;
 * the decoders throw only their documented error types and agree with the references.
 */
import fc from 'fast-check';
import { auditLogs, closeAuditLogs } from '../lib/audit-logs.mjs';
import { checkDecodeInput, checkRecordsInput, decodeInput, recordsInput } from '../lib/audit-decode.mjs';
import { checkExport, checkStore, exportInput, storeInput } from '../lib/audit-store.mjs';

export const name = 'audit';

/** The fast-check arbitrary of inputs. */
export const arbitrary = fc.oneof(
  { weight: 4, arbitrary: storeInput },
  { weight: 2, arbitrary: exportInput },
  { weight: 3, arbitrary: decodeInput },
  { weight: 3, arbitrary: recordsInput },
);

/** Build the fixture logs before the clock starts (a second or two). */
export async function setup() {
  await auditLogs();
}

/** Close the fixture stores. */
export async function teardown() {
  await closeAuditLogs();
}

/** The property, for one input; throws when it does not hold. */
export async function check(input) {
  if (input.mode === 'store') return checkStore(input);
  if (input.mode === 'export') return checkExport(input);
  if (input.mode === 'decode') return checkDecodeInput(input);
  return checkRecordsInput(input);
}
