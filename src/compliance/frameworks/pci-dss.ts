import type { ComplianceFramework } from '../types.js';

/**
 * PCI DSS v4.0: the requirements on access (7, 8), audit logs (10) and detection of intrusions
 * and file changes (11.5) that a runtime for agents touches. Names and descriptions are our own
 * summaries, not the standard's text. The numbering is unchanged in v4.0.1.
 */
export const PCI_DSS: ComplianceFramework = {
  id: 'pci-dss',
  name: 'PCI DSS',
  version: '4.0',
  revision: 1,
  retentionDays: 365,
  retentionBasis:
    'PCI DSS 10.5.1: audit log history is kept for at least 12 months, with at least the most recent three months immediately available for analysis.',
  assessmentIntervalDays: 365,
  requirements: [
    {
      id: '7.2',
      name: 'Access to system components and data is defined and assigned',
      description:
        'An access control model grants access by job function with least privilege; accounts of applications and systems are limited to what they need; access is approved and reviewed periodically.',
      category: 'security',
      controls: [
        {
          id: '7.2-least-privilege',
          name: 'Least privilege for agents (system accounts)',
          description: 'Agents get only the capabilities, files, hosts and data their function needs.',
          implementation: 'The gate denies by default; roles, access and data policies grant and restrict per call.',
          check: 'least-privilege',
          scope:
            'Checks policies deny by default with no wildcard hosts or ports, no read-write sensitive mounts and forbidden capabilities set. It does not check each grant against the agent\'s function.',
        },
        {
          id: '7.2-access-changes',
          name: 'Access changes recorded',
          description: 'Every change to an agent\'s access is recorded with who made it.',
          implementation: 'Policy updates and rejected updates are audit records naming their author.',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes are recorded with their author. It does not check that authorised personnel approved them (7.2.3).',
        },
        {
          id: '7.2-access-review',
          name: 'Periodic review of accounts and access',
          description: 'User accounts and their access are reviewed at least every six months, and application and system accounts periodically.',
          implementation: 'Outside the sandbox: access reviews of operators and agent policies.',
          scope:
            'A person must show the access reviews of the period: user accounts at least every six months (7.2.4) and agent policies at the frequency set by the entity\'s risk analysis (7.2.5.1).',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Policies, roles and data policies in force.', automated: true },
        { type: 'audit_logs', description: 'Policy change records.', automated: true },
        { type: 'attestation', description: 'Access review records.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Access review (at least every six months for user accounts; quarterly here).', frequency: 'quarterly' },
      ],
    },
    {
      id: '8.2',
      name: 'User identification and accounts are strictly managed',
      description:
        'Every user and administrator has a unique ID; shared accounts are exceptional; accounts are added, changed, revoked and removed under control throughout their life cycle.',
      category: 'security',
      controls: [
        {
          id: '8.2-unique-agent-ids',
          name: 'Unique identity per agent',
          description: 'Each agent instance acts under its own identity, which expires and can be revoked.',
          implementation: 'Instances get their own identity and key pair at load; revoked or expired identities are refused.',
          check: 'authentication',
          scope:
            'Checks agents ran under identities and authentication failures were recorded and acted on. It does not cover user or administrator accounts.',
        },
        {
          id: '8.2-account-lifecycle',
          name: 'Account life cycle',
          description: 'Accounts are authorised before creation, revoked at termination and removed after 90 days of inactivity.',
          implementation: 'Outside the sandbox: the entity\'s account management for operators and publishers.',
          scope:
            'A person must show approvals for account changes (8.2.4), revocation for terminated users (8.2.5), removal of inactive accounts within 90 days (8.2.6) and idle session timeouts (8.2.8).',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Authentication and identity revocation records.', automated: true },
        { type: 'attestation', description: 'Account management records.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of inactive and terminated accounts.', frequency: 'quarterly' },
      ],
    },
    {
      id: '8.3',
      name: 'Strong authentication for users and administrators',
      description:
        'Authentication factors are verified for every access, protected with strong cryptography in storage and transmission, and lockout, complexity and change rules apply.',
      category: 'security',
      controls: [
        {
          id: '8.3-agent-authentication',
          name: 'Cryptographic authentication of agents',
          description: 'Agents authenticate with keys, certificates and key-bound tokens, and failures are recorded.',
          implementation: 'Mutual authentication with single-use challenges; EdDSA tokens bound to the agent\'s key; revocations shared.',
          check: 'authentication',
          scope:
            'Checks agents ran under identities (mutual authentication, tokens) and failures were recorded and acted on. It does not cover human users.',
        },
        {
          id: '8.3-factors-unreadable',
          name: 'Authentication secrets unreadable in storage',
          description: 'Stored private keys are encrypted with strong cryptography.',
          implementation: 'The key store encrypts private keys with AES-256-GCM under a scrypt-derived key.',
          check: 'encryption-at-rest',
          scope:
            'Checks the secrets in the key store are encrypted at rest (8.3.2, storage). It does not cover authentication factors in transmission or kept elsewhere.',
        },
        {
          id: '8.3-user-authentication',
          name: 'Authentication rules for people',
          description: 'Passwords, lockout and multi-factor authentication for users and administrators meet the standard.',
          implementation: 'Outside the sandbox: the entity\'s authentication system for operators.',
          scope:
            'A person must show lockout after at most 10 attempts (8.3.4), password length and change rules (8.3.6, 8.3.9), and multi-factor authentication where 8.4 requires it.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Authentication success and failure records.', automated: true },
        { type: 'configuration', description: 'Key store settings.', automated: true },
        { type: 'technical_documentation', description: 'Operator authentication configuration.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Repeated authentication failures raise brute-force alerts.', frequency: 'continuous' },
      ],
    },
    {
      id: '10.2',
      name: 'Audit logs support detection of anomalies and forensic analysis',
      description:
        'Audit logs are enabled on all system components and record access to cardholder data, administrative actions, invalid access attempts and changes to credentials, with the details needed to reconstruct events.',
      category: 'operational',
      controls: [
        {
          id: '10.2-decisions-logged',
          name: 'Every decision recorded',
          description: 'All allowed and denied operations of agents are recorded with who, what, when, where and outcome.',
          implementation: 'Every gate decision is an audit record (agent, capability, resource, action, outcome, reason, time); the gate fails closed if the log cannot write.',
          check: 'decisions-logged',
          scope:
            'Checks every gate decision of the period is a record and none was refused for want of the log. It does not cover logs of other system components in the cardholder data environment.',
        },
        {
          id: '10.2-cardholder-data-access',
          name: 'Access to cardholder data recorded',
          description: 'Each access to classified cardholder data is recorded per agent and data id (10.2.1.1).',
          implementation: 'Data policies classify data ids; access decisions are audit records naming the agent and data id.',
          check: 'data-access-logging',
          scope:
            'Checks access to data covered by data policies is recorded per agent and data id. It does not cover cardholder data no data policy names.',
        },
        {
          id: '10.2-admin-actions',
          name: 'Administrative actions recorded',
          description: 'Changes to agent policies are recorded with who made them (10.2.1.2).',
          implementation: 'Policy updates and rejected updates are audit records naming their author.',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes are recorded with their author. It does not cover administrative actions on hosts.',
        },
        {
          id: '10.2-other-components',
          name: 'Logging on the other system components',
          description: 'Hosts, databases and network devices in scope have audit logging enabled.',
          implementation: 'Outside the sandbox: logging of the rest of the cardholder data environment.',
          scope:
            'A person must show that audit logging is enabled on every other system component in scope, including access to the audit logs themselves (10.2.1.3).',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Audit records of the period.', automated: true },
        { type: 'technical_documentation', description: 'Logging configuration of other in-scope components.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Records are appended as events happen.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of security events and logs (10.4.1).', frequency: 'daily' },
      ],
    },
    {
      id: '10.3',
      name: 'Audit logs are protected from destruction and unauthorised modification',
      description:
        'Read access to audit logs is limited, log files are protected from change, backed up promptly to a central store, and watched by change detection.',
      category: 'security',
      controls: [
        {
          id: '10.3-tamper-evident-log',
          name: 'Tamper-evident audit chain',
          description: 'Changes to or removal of audit records are detected.',
          implementation: 'Hash chain, Merkle tree, signed checkpoints and a witness on other storage; verification names the first bad record.',
          check: 'audit-integrity',
          scope:
            'Checks the audit chain verifies for the period: no gaps, record hashes, signed and witnessed checkpoints (10.3.2, 10.3.4). It does not check who can read the logs.',
        },
        {
          id: '10.3-log-access-and-backup',
          name: 'Log read access and central backup',
          description: 'Only people with a job need can read the logs, and logs are copied promptly to a central store that is hard to alter.',
          implementation: 'Outside the sandbox: permissions of the audit directory; export or witness to central storage.',
          scope:
            'A person must show who can read the audit directory (10.3.1) and that logs are backed up promptly to a central, hard-to-alter store (10.3.3).',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Audit chain verification result and checkpoints.', automated: true },
        { type: 'technical_documentation', description: 'Log access permissions and backup configuration.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Verification of the audit chain.', frequency: 'daily' },
      ],
    },
    {
      id: '10.5',
      name: 'Audit log history is retained and available for analysis',
      description:
        'Audit log history is kept for at least 12 months, with at least the latest three months immediately available for analysis.',
      category: 'operational',
      controls: [
        {
          id: '10.5-retention',
          name: 'Twelve months of audit records',
          description: 'The log keeps at least 12 months of records.',
          implementation: 'Records are pruned only on request, leaving a signed anchor checkpoint.',
          check: 'retention',
          scope:
            'Checks the log keeps records for at least 365 days. It does not check that the latest three months are immediately available or that archives held elsewhere exist.',
        },
        {
          id: '10.5-availability',
          name: 'Three months immediately available',
          description: 'The latest three months can be analysed at once; older records can be restored.',
          implementation: 'Outside the sandbox: where exports and archives are kept and how fast they can be restored.',
          scope:
            'A person must show the latest three months can be queried at once and that older archived exports can be restored and verified.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Prune anchor and oldest retained record.', automated: true },
        { type: 'technical_documentation', description: 'Archive location and restore test.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Check of the retained log history.', frequency: 'monthly' },
      ],
    },
    {
      id: '10.7',
      name: 'Failures of critical security control systems are detected, reported and responded to',
      description:
        'Failures of critical security controls (such as audit logging, intrusion detection or change detection) are detected and alerted on, and responded to promptly.',
      category: 'operational',
      controls: [
        {
          id: '10.7-logging-failure',
          name: 'Audit logging failure detected and fails closed',
          description: 'If the audit log cannot write, agents are stopped rather than run unlogged.',
          implementation: 'Calls are refused with AUDIT_UNAVAILABLE and nothing loads until the sandbox is recreated.',
          check: 'decisions-logged',
          scope:
            'Checks every decision of the period is a record and none was refused for want of the log. It does not detect failures of controls outside the sandbox.',
        },
        {
          id: '10.7-monitor-health',
          name: 'Security monitor ran',
          description: 'The security monitor ran and its alerts, including its own overflow alerts, were recorded.',
          implementation: 'The monitor never drops events silently: a full queue raises a monitor_overflow alert.',
          check: 'monitoring',
          scope:
            'Checks the monitor ran for the period and its alerts were recorded. It does not check monitoring tools outside the sandbox.',
        },
        {
          id: '10.7-prompt-response',
          name: 'Prompt response',
          description: 'Failures and incidents are responded to promptly.',
          implementation: 'Incidents record containment and resolution with times and who acted.',
          check: 'incident-response',
          scope:
            'Checks incidents were contained and resolved within the stated time. It does not cover the restoration and root-cause steps 10.7.3 lists.',
        },
        {
          id: '10.7-failure-procedure',
          name: 'Response procedure for control failures',
          description: 'A procedure restores failed controls, finds the cause and documents the failure.',
          implementation: 'Outside the sandbox: the entity\'s procedure for critical control failures.',
          scope:
            'A person must show the procedure and, for failures of the period, the restoration, root cause, duration and remediation records (10.7.3).',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Refusals for audit unavailability, monitor alerts and incident records.', automated: true },
        { type: 'attestation', description: 'Control failure records.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Logging and monitor failures raise alerts at once.', frequency: 'continuous' },
      ],
    },
    {
      id: '11.5',
      name: 'Network intrusions and unexpected file changes are detected and responded to',
      description:
        'Intrusion detection or prevention watches traffic at the perimeter and critical points of the cardholder data environment, and a change-detection mechanism alerts on unauthorised changes to critical files.',
      category: 'security',
      controls: [
        {
          id: '11.5-component-change-detection',
          name: 'Changed components refused',
          description: 'A component changed in any byte since it was signed is refused at load.',
          implementation: 'Signature verification covers the SHA-256 of every byte; listed component hashes are blocked.',
          check: 'component-integrity',
          scope:
            'Checks the components that ran were signed and verified, which detects changes to agent components. It does not watch other critical files on the host.',
        },
        {
          id: '11.5-intrusion-detection',
          name: 'Detection of intrusion attempts by agents',
          description: 'Unusual destinations, indicator hits and attack patterns of agents raise alerts.',
          implementation: 'The monitor flags suspicious network activity, indicator hits and potential compromise per agent.',
          check: 'monitoring',
          scope:
            'Checks the monitor ran and its alerts were recorded. It is not a network intrusion detection system for the cardholder data environment.',
        },
        {
          id: '11.5-ids-and-fim',
          name: 'Network IDS/IPS and file integrity monitoring',
          description: 'Network intrusion detection at the perimeter and change detection on critical host files.',
          implementation: 'Outside the sandbox: the entity\'s IDS/IPS and file integrity monitoring.',
          scope:
            'A person must show IDS/IPS coverage of the perimeter and critical points (11.5.1) and change detection on critical files with comparisons at least weekly (11.5.2).',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Component load records and monitor alerts.', automated: true },
        { type: 'technical_documentation', description: 'IDS/IPS and file integrity monitoring configuration and alerts.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Components are verified at each load; alerts are raised as events arrive.', frequency: 'continuous' },
        { type: 'periodic', description: 'Critical file comparison (11.5.2).', frequency: 'weekly' },
      ],
    },
  ],
};
