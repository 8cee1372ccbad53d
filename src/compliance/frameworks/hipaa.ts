import type { ComplianceFramework } from '../types.js';

/**
 * HIPAA Security Rule (45 CFR Part 164, Subpart C): the administrative safeguard of information
 * system activity review and the technical safeguards of 164.312. Names and descriptions are our
 * own summaries. Required and addressable implementation specifications are named where they
 * matter; for an addressable one the covered entity may document an equivalent measure.
 */
export const HIPAA: ComplianceFramework = {
  id: 'hipaa',
  name: 'HIPAA Security Rule',
  version: '45 CFR Part 164 Subpart C',
  revision: 1,
  retentionDays: 2190,
  retentionBasis:
    '45 CFR 164.316(b)(2)(i) requires documentation to be kept for 6 years from its creation or last effective date; the Security Rule states no period for audit logs themselves, and applying the 6 years to them is common practice.',
  assessmentIntervalDays: 365,
  requirements: [
    {
      id: '164.308(a)(1)(ii)(D)',
      name: 'Information system activity review',
      description:
        'Procedures regularly review records of information system activity, such as audit logs, access reports and security incident tracking reports.',
      category: 'operational',
      controls: [
        {
          id: '164.308-a-1-ii-d-monitoring',
          name: 'Automated review of activity',
          description: 'Recorded activity is analysed continuously for attacks and anomalies.',
          implementation: 'The security monitor analyses every recorded event and records its alerts in the audit chain.',
          check: 'monitoring',
          scope:
            'Checks the monitor ran for the period and its alerts were recorded. It does not replace the regular review by a person.',
        },
        {
          id: '164.308-a-1-ii-d-incident-tracking',
          name: 'Security incident tracking',
          description: 'Incidents are tracked from detection to resolution.',
          implementation: 'Incidents record detection, containment, timeline and resolution, with who released or resolved them.',
          check: 'incident-response',
          scope:
            'Checks incidents were contained and resolved within the stated time. It does not check incidents found outside the sandbox.',
        },
        {
          id: '164.308-a-1-ii-d-review-procedure',
          name: 'Regular review by a person',
          description: 'A person reviews audit logs, access reports and incident reports on a set schedule.',
          implementation: 'Outside the sandbox: a documented review procedure using audit queries, the dashboard and incident reports.',
          scope:
            'A person must show the written review procedure and dated records of the reviews of the period with their findings.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Security alerts and incident records.', automated: true },
        { type: 'attestation', description: 'Dated activity review records.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'The monitor analyses every recorded event.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of audit logs, access reports and incidents by a person.', frequency: 'weekly' },
      ],
    },
    {
      id: '164.312(a)(1)',
      name: 'Access control',
      description:
        'Technical policies and procedures allow access to systems holding electronic protected health information (ePHI) only to persons or software programs granted access rights; unique user identification and emergency access are required, automatic logoff and encryption are addressable.',
      category: 'security',
      controls: [
        {
          id: '164.312-a-1-least-privilege',
          name: 'Only granted software reaches ePHI',
          description: 'Agents reach only the files, hosts, tools and data their policy grants.',
          implementation: 'The gate denies by default; data policies restrict classified data by role.',
          check: 'least-privilege',
          scope:
            'Checks policies deny by default with no wildcard hosts or ports and no read-write sensitive mounts. It does not check grants against the access authorisations of 164.308(a)(4).',
        },
        {
          id: '164.312-a-1-unique-identification',
          name: 'Unique identification of agents',
          description: 'Each agent instance acts under its own identity.',
          implementation: 'Each instance has its own identity and key pair; the gate authenticates the caller before every decision.',
          check: 'authentication',
          scope:
            'Checks agents ran under identities and failures were recorded and acted on. It does not cover unique identification of workforce members.',
        },
        {
          id: '164.312-a-1-encryption',
          name: 'Encryption and decryption (addressable)',
          description: 'Stored secrets are encrypted.',
          implementation: 'The key store encrypts private keys with AES-256-GCM.',
          check: 'encryption-at-rest',
          scope:
            'Checks the secrets in the key store are encrypted at rest. It does not cover ePHI in the stores agents use.',
        },
        {
          id: '164.312-a-1-emergency-access',
          name: 'Emergency access procedure',
          description: 'ePHI can be reached in an emergency under a defined procedure.',
          implementation: 'Outside the sandbox: the covered entity\'s emergency access procedure.',
          scope:
            'A person must show the emergency access procedure and its latest test, and how ePHI at rest is encrypted or why an equivalent measure was chosen.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Policies, data policies and key store settings in force.', automated: true },
        { type: 'technical_documentation', description: 'Emergency access procedure and encryption decision.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Every access decision is recorded.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of agent access to ePHI.', frequency: 'quarterly' },
      ],
    },
    {
      id: '164.312(b)',
      name: 'Audit controls',
      description: 'Hardware, software or procedures record and examine activity in systems that contain or use ePHI.',
      category: 'security',
      controls: [
        {
          id: '164.312-b-decisions-logged',
          name: 'Activity recorded',
          description: 'Every operation of an agent, allowed or denied, is recorded.',
          implementation: 'Every gate decision is an audit record; the gate fails closed if the log cannot write.',
          check: 'decisions-logged',
          scope:
            'Checks every gate decision of the period is a record and none was refused for want of the log. It does not cover systems outside the sandbox.',
        },
        {
          id: '164.312-b-ephi-access-logged',
          name: 'Access to ePHI recorded',
          description: 'Access to classified data is recorded per agent and data id.',
          implementation: 'Data policies classify data ids; access decisions are audit records naming the agent and data id.',
          check: 'data-access-logging',
          scope:
            'Checks access to data covered by data policies is recorded per agent and data id. It does not cover ePHI no data policy names.',
        },
        {
          id: '164.312-b-log-integrity',
          name: 'Audit records protected',
          description: 'Audit records cannot be altered or removed without detection.',
          implementation: 'Hash chain, Merkle tree and signed, witnessed checkpoints.',
          check: 'audit-integrity',
          scope:
            'Checks the audit chain verifies for the period: no gaps, record hashes, signed and witnessed checkpoints.',
        },
        {
          id: '164.312-b-log-retention',
          name: 'Audit records kept',
          description: 'Audit records are kept for six years.',
          implementation: 'Records are pruned only on request, leaving a signed anchor checkpoint.',
          check: 'retention',
          scope:
            'Checks the log keeps records for at least 2190 days (the 6 years of 164.316(b)(2)(i)). It does not check archives held elsewhere.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Audit chain of the period, its verification result and data access records.', automated: true },
      ],
      monitoring: [
        { type: 'continuous', description: 'Records are appended as events happen.', frequency: 'continuous' },
        { type: 'periodic', description: 'Verification of the audit chain.', frequency: 'daily' },
      ],
    },
    {
      id: '164.312(c)(1)',
      name: 'Integrity',
      description:
        'Policies and procedures protect ePHI from improper alteration or destruction; a mechanism to corroborate that ePHI has not been altered is addressable.',
      category: 'security',
      controls: [
        {
          id: '164.312-c-1-write-restriction',
          name: 'No improper writes',
          description: 'Agents cannot change or delete data their policy does not let them write.',
          implementation: 'Mounts and file globs decide every write, delete and rename; data policies restrict write and delete by role.',
          check: 'least-privilege',
          scope:
            'Checks no sensitive path is mounted read-write and policies deny by default. It does not corroborate that stored ePHI is unaltered.',
        },
        {
          id: '164.312-c-1-trusted-code',
          name: 'Only verified code processes ePHI',
          description: 'Only signed, unaltered components run.',
          implementation: 'Components unsigned, altered or signed by untrusted keys are refused.',
          check: 'component-integrity',
          scope:
            'Checks the components that ran were signed and verified. It does not cover the integrity of the data they handle.',
        },
        {
          id: '164.312-c-1-data-integrity',
          name: 'Corroboration of ePHI integrity (addressable)',
          description: 'Stored ePHI can be shown to be unaltered.',
          implementation: 'Outside the sandbox: checksums, versioning or backups of the stores holding ePHI.',
          scope:
            'A person must show the mechanism that detects alteration of stored ePHI (or the documented equivalent) and its results.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Mounts, file access and data policies; trust store.', automated: true },
        { type: 'audit_logs', description: 'Component load and verification records.', automated: true },
        { type: 'technical_documentation', description: 'ePHI integrity mechanism.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Writes and component loads are decided and recorded.', frequency: 'continuous' },
      ],
    },
    {
      id: '164.312(d)',
      name: 'Person or entity authentication',
      description: 'Procedures verify that a person or entity seeking access to ePHI is the one claimed.',
      category: 'security',
      controls: [
        {
          id: '164.312-d-agent-authentication',
          name: 'Agents authenticated',
          description: 'Agents prove their identity with keys, certificates and key-bound tokens.',
          implementation: 'The gate authenticates the caller before every decision; mutual authentication and tokens are bound to the agent\'s key.',
          check: 'authentication',
          scope:
            'Checks agents ran under identities (mutual authentication, tokens) and failures were recorded and acted on. It does not cover workforce members.',
        },
        {
          id: '164.312-d-workforce-authentication',
          name: 'Workforce authentication',
          description: 'People reaching ePHI or administering the sandbox are authenticated.',
          implementation: 'Outside the sandbox: the covered entity\'s authentication of workforce members.',
          scope:
            'A person must show how workforce members who reach ePHI or administer the sandbox are authenticated.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Authentication success and failure records.', automated: true },
        { type: 'technical_documentation', description: 'Workforce authentication configuration.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Repeated authentication failures raise alerts.', frequency: 'continuous' },
      ],
    },
    {
      id: '164.312(e)(1)',
      name: 'Transmission security',
      description:
        'Technical measures guard against unauthorised access to ePHI sent over electronic networks; integrity controls and encryption are addressable.',
      category: 'security',
      controls: [
        {
          id: '164.312-e-1-egress-restriction',
          name: 'Transmission only to named destinations',
          description: 'Agents can send data only to named hosts, ports and protocols.',
          implementation: 'The gate decides each outgoing request; sockets and DNS are denied.',
          check: 'network-restriction',
          scope:
            'Checks egress is limited to named hosts, ports and protocols. It does not check that the transmission is encrypted.',
        },
        {
          id: '164.312-e-1-encryption',
          name: 'Encryption and integrity in transit (addressable)',
          description: 'ePHI in transit is protected by TLS.',
          implementation: 'Outside the sandbox: the sandbox does not terminate TLS; the endpoints\' TLS configuration is the entity\'s.',
          scope:
            'A person must show that connections carrying ePHI use TLS with current versions and ciphers, or document the equivalent measure.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Network rules and protocols of the policies in force.', automated: true },
        { type: 'technical_documentation', description: 'TLS configuration of the endpoints carrying ePHI.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Denied connections are recorded.', frequency: 'continuous' },
      ],
    },
  ],
};
