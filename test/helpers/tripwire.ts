/** A security policy that quarantines the agent that reads `path` (the monitor's containment tests). */
export function tripwire(path: string) {
  return {
    id: 'tripwire',
    name: 'tripwire',
    scope: {},
    rules: [{ id: 'canary', name: 'reads the canary', condition: { when: { eventType: 'file_read' }, where: { path } }, action: { type: 'quarantine' }, severity: 'critical' }],
    enforcement: { mode: 'enforcing', exceptions: [] },
  };
}
