import type { ComplianceFramework } from '../types.js';

/**
 * GDPR, Regulation (EU) 2016/679: the articles on security of personal data that a runtime for
 * agents touches — the integrity and confidentiality principle, data protection by design and
 * by default, records of processing, security of processing and breach notification. Names and
 * descriptions are our own summaries, not the Regulation's text. Most of the GDPR is about the
 * controller's purposes and lawful bases, which no software check can assess.
 */
export const GDPR: ComplianceFramework = {
  id: 'gdpr',
  name: 'GDPR (General Data Protection Regulation)',
  version: '2016/679',
  revision: 1,
  retentionBasis:
    'The GDPR sets no retention period for security logs; under storage limitation (Art. 5(1)(e)) and accountability the organisation sets one, long enough to document breaches (Art. 33(5)) and no longer than necessary, and the retention check is assessed against the retention the organisation configured.',
  assessmentIntervalDays: 365,
  requirements: [
    {
      id: 'Art. 5(1)(f)',
      name: 'Integrity and confidentiality',
      description:
        'Personal data is processed with appropriate security, including protection against unauthorised or unlawful processing and against accidental loss, destruction or damage.',
      category: 'privacy',
      controls: [
        {
          id: 'art5-1-f-least-privilege',
          name: 'Agents reach only the data they are granted',
          description: 'Agents cannot read or change personal data their policy does not grant.',
          implementation: 'The gate denies by default; data policies restrict read, write and delete of classified data by role.',
          check: 'least-privilege',
          scope:
            'Checks policies deny by default with no wildcard hosts or ports and no read-write sensitive mounts. It does not check which personal data each agent actually needs.',
        },
        {
          id: 'art5-1-f-access-recorded',
          name: 'Processing of personal data recorded',
          description: 'Access to classified (personal) data is recorded per agent and data id.',
          implementation: 'Data policies classify data ids; every access decision is an audit record.',
          check: 'data-access-logging',
          scope:
            'Checks access to data covered by data policies is recorded per agent and data id. It does not cover personal data no data policy names.',
        },
        {
          id: 'art5-1-f-loss-protection',
          name: 'Protection against loss and damage',
          description: 'Personal data is backed up and can be restored.',
          implementation: 'Outside the sandbox: backups and restore tests of the stores agents use.',
          scope:
            'A person must show backups and restore tests of the stores holding personal data that agents process.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Policies and data policies in force.', automated: true },
        { type: 'audit_logs', description: 'Data access records.', automated: true },
        { type: 'technical_documentation', description: 'Backup and restore records.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Every access decision is recorded.', frequency: 'continuous' },
      ],
    },
    {
      id: 'Art. 25',
      name: 'Data protection by design and by default',
      description:
        'Data protection principles are built into processing from its design, and by default only the personal data needed for each purpose is processed and made accessible.',
      category: 'privacy',
      controls: [
        {
          id: 'art25-deny-by-default',
          name: 'Nothing accessible by default',
          description: 'An agent with no policy can reach no files, hosts, tools or data.',
          implementation: 'The gate denies by default; an empty policy grants only computation, logging, clocks and randomness.',
          check: 'least-privilege',
          scope:
            'Checks policies deny by default with no wildcard hosts or ports and no read-write sensitive mounts. It does not assess data minimisation of the processing itself.',
        },
        {
          id: 'art25-egress-limited',
          name: 'Personal data cannot flow to unnamed destinations',
          description: 'Agents can send data only to named hosts, ports and protocols.',
          implementation: 'The gate decides each outgoing request; sockets and DNS are denied.',
          check: 'network-restriction',
          scope:
            'Checks egress is limited to named hosts, ports and protocols. It does not check whether a named recipient may lawfully receive the data.',
        },
        {
          id: 'art25-design-review',
          name: 'Privacy design review',
          description: 'Each agent\'s processing of personal data is reviewed for minimisation and pseudonymisation before it goes live.',
          implementation: 'Outside the sandbox: the organisation\'s design review, and a DPIA (Art. 35) where the processing is high risk.',
          scope:
            'A person must show the design review of each agent processing personal data, and the DPIA where one is required.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Policies and network rules in force.', automated: true },
        { type: 'technical_documentation', description: 'Privacy design reviews and DPIAs.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of agents processing personal data and their policies.', frequency: 'annually' },
      ],
    },
    {
      id: 'Art. 30',
      name: 'Records of processing activities',
      description:
        'The controller and processor keep written records of their processing activities (purposes, categories of data and recipients, transfers, retention, security measures).',
      category: 'governance',
      controls: [
        {
          id: 'art30-data-access-records',
          name: 'Which agent processed which data',
          description: 'Access to classified data is recorded per agent and data id, supporting the record of processing.',
          implementation: 'Data policies classify data ids; access decisions are audit records naming the agent and data id.',
          check: 'data-access-logging',
          scope:
            'Checks access to data covered by data policies is recorded per agent and data id. This is technical evidence for the record, not the record of processing itself.',
        },
        {
          id: 'art30-ropa',
          name: 'Record of processing activities',
          description: 'A written record of processing activities covers each agent that processes personal data.',
          implementation: 'Outside the sandbox: the organisation\'s record of processing activities.',
          scope:
            'A person must show the record of processing activities, with an entry for each agent processing personal data (purposes, categories, recipients, transfers, retention, security measures).',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Data access records per agent and data id.', automated: true },
        { type: 'technical_documentation', description: 'Record of processing activities.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Update of the record of processing when agents or data policies change.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'Art. 32',
      name: 'Security of processing',
      description:
        'Technical and organisational measures give security appropriate to the risk, such as encryption, ongoing confidentiality and integrity, restoring availability, and regular testing of the measures.',
      category: 'privacy',
      controls: [
        {
          id: 'art32-data-encryption',
          name: 'Data encryption',
          description: 'Secrets are encrypted at rest.',
          implementation: 'The key store encrypts private keys with AES-256-GCM under a passphrase-derived key.',
          check: 'encryption-at-rest',
          scope:
            'Checks the secrets in the key store are encrypted at rest. It does not cover personal data in the stores agents use, backups, or data in transit.',
        },
        {
          id: 'art32-access-logging',
          name: 'Access logging',
          description: 'Access to personal data is recorded per agent and data id.',
          implementation: 'Data policies classify data ids; every access decision is an audit record in the tamper-evident chain.',
          check: 'data-access-logging',
          scope:
            'Checks access to data covered by data policies is recorded per agent and data id. It does not cover personal data no data policy names.',
        },
        {
          id: 'art32-transmission-encryption',
          name: 'Encryption of personal data in transit and in stores',
          description: 'Personal data is encrypted in transit (TLS) and, where the risk calls for it, in its stores.',
          implementation: 'Outside the sandbox: the sandbox does not terminate TLS or encrypt the stores agents use.',
          scope:
            'A person must show TLS on the connections carrying personal data and encryption of the stores holding it, or why the risk does not call for it.',
        },
        {
          id: 'art32-testing',
          name: 'Regular testing of security measures',
          description: 'The effectiveness of the measures is tested and evaluated regularly.',
          implementation: 'Outside the sandbox: penetration tests, restore tests and reviews; this report is one input.',
          scope:
            'A person must show the testing and evaluation of the security measures for the period (for example penetration test and restore test results).',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Data access records.', automated: true },
        { type: 'configuration', description: 'Key store settings and data policies.', automated: true },
        { type: 'technical_documentation', description: 'Risk assessment, encryption design and test results.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Access to classified data is recorded as it happens.', frequency: 'continuous' },
        { type: 'periodic', description: 'Testing and evaluation of security measures.', frequency: 'annually' },
      ],
    },
    {
      id: 'Art. 33',
      name: 'Notification of a personal data breach to the supervisory authority',
      description:
        'A personal data breach is notified to the supervisory authority without undue delay and, where feasible, within 72 hours of becoming aware of it, unless it is unlikely to result in a risk; every breach is documented.',
      category: 'privacy',
      controls: [
        {
          id: 'art33-detection',
          name: 'Breaches detected',
          description: 'Events that may be breaches are detected and recorded, starting the clock.',
          implementation: 'The security monitor records alerts with their evidence and opens incidents.',
          check: 'monitoring',
          scope:
            'Checks the monitor ran and its alerts were recorded. It does not decide whether an alert is a personal data breach.',
        },
        {
          id: 'art33-containment',
          name: 'Containment in time',
          description: 'Incidents are contained and resolved within the stated time.',
          implementation: 'Containing alerts quarantine the agent and open an incident with a timeline and forensic snapshot.',
          check: 'incident-response',
          scope:
            'Checks incidents were contained and resolved within the stated time. It does not notify the supervisory authority or check that anyone did.',
        },
        {
          id: 'art33-notification',
          name: 'Notification to the supervisory authority within 72 hours',
          description: 'Breaches that risk people\'s rights are notified to the authority in time.',
          implementation: 'Outside the sandbox: the organisation\'s breach notification procedure, using incident timelines as input.',
          scope:
            'A person must show the breach notification procedure and, for each breach of the period, the risk assessment and the notification (or the reasons for delay or for not notifying).',
        },
        {
          id: 'art33-breach-register',
          name: 'Breach register',
          description: 'Every breach is documented with its facts, effects and remedial action.',
          implementation: 'Outside the sandbox: the organisation\'s breach register, referencing incident records.',
          scope:
            'A person must show the breach register, with facts, effects and remedial action for each breach of the period.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Security alerts and incident timelines.', automated: true },
        { type: 'attestation', description: 'Breach register and notifications sent.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Alerts and incidents are raised as events arrive.', frequency: 'continuous' },
        { type: 'periodic', description: 'Breach notification exercise.', frequency: 'annually' },
      ],
    },
  ],
};
