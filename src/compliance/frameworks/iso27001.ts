import type { ComplianceFramework } from '../types.js';

/**
 * ISO/IEC 27001:2022, the Annex A controls (with the guidance of ISO/IEC 27002:2022) that a
 * runtime for agents touches: organisational access controls (5.15–5.18), collection of evidence
 * (5.28) and technological controls (8.x). Names and descriptions are our own summaries, not the
 * standard's text.
 */
export const ISO27001: ComplianceFramework = {
  id: 'iso27001',
  name: 'ISO/IEC 27001 (Annex A)',
  version: '2022',
  revision: 1,
  retentionBasis:
    'ISO/IEC 27001:2022 sets no retention period for logs (A.8.15 asks that logs be kept and protected); the organisation sets it in its logging policy, and the retention check is assessed against the retention the organisation configured.',
  assessmentIntervalDays: 365,
  requirements: [
    {
      id: 'A.5.15',
      name: 'Access control',
      description: 'Rules for physical and logical access to information and assets are set from business and security needs and applied.',
      category: 'security',
      controls: [
        {
          id: 'a.5.15-deny-by-default',
          name: 'Access rules enforced for agents',
          description: 'Agent access follows written rules and is denied unless a rule grants it.',
          implementation: 'Policies (capabilities, mounts, network rules, roles, access and data policies) are enforced by the gate with default deny.',
          check: 'least-privilege',
          scope:
            'Checks the policies in force deny by default: no wildcard hosts or ports, no read-write mounts of sensitive paths, forbidden capabilities set. It does not check the rules reflect the organisation\'s business requirements.',
        },
        {
          id: 'a.5.15-access-control-policy',
          name: 'Topic-specific access control policy',
          description: 'An access control policy is written, approved and communicated.',
          implementation: 'Outside the sandbox: the organisation\'s access control policy, of which agent policies are an implementation.',
          scope:
            'A person must show the approved access control policy and how agent policies are derived from it.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Agent policies in force.', automated: true },
        { type: 'technical_documentation', description: 'Approved access control policy.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of the access control policy and agent policies.', frequency: 'annually' },
      ],
    },
    {
      id: 'A.5.16',
      name: 'Identity management',
      description: 'The whole life cycle of identities is managed.',
      category: 'security',
      controls: [
        {
          id: 'a.5.16-agent-identities',
          name: 'Unique, expiring agent identities',
          description: 'Each agent instance has its own identity, which expires and can be revoked.',
          implementation: 'Instances get an identity with their own key pair at load; past its lifetime or after revocation every call is refused and recorded.',
          check: 'authentication',
          scope:
            'Checks agents ran under identities (mutual authentication, tokens) and authentication failures were recorded and acted on. It does not cover identities of people.',
        },
        {
          id: 'a.5.16-identity-lifecycle',
          name: 'Life cycle of human and publisher identities',
          description: 'Identities of operators and publishers are registered, reviewed and removed.',
          implementation: 'Outside the sandbox: the organisation\'s joiner, mover and leaver process.',
          scope:
            'A person must show registration and removal records for operators and component publishers, and that identities are not shared.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Authentication success and failure records.', automated: true },
        { type: 'attestation', description: 'Joiner and leaver records for operators and publishers.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Authentication failures are recorded and raise alerts.', frequency: 'continuous' },
      ],
    },
    {
      id: 'A.5.17',
      name: 'Authentication information',
      description: 'Allocation and management of authentication information is controlled, and people are told how to handle it.',
      category: 'security',
      controls: [
        {
          id: 'a.5.17-secrets-encrypted',
          name: 'Stored authentication secrets are encrypted',
          description: 'Private keys that authenticate agents and publishers are stored encrypted.',
          implementation: 'The key store encrypts private keys with AES-256-GCM under a passphrase-derived key; the passphrase never comes from the command line.',
          check: 'encryption-at-rest',
          scope:
            'Checks the secrets in the key store are encrypted at rest. It does not cover passphrases, token secrets or credentials kept elsewhere.',
        },
        {
          id: 'a.5.17-secret-handling',
          name: 'Handling of passphrases and keys',
          description: 'Who holds passphrases and keys, how they are passed on and when they are rotated is defined.',
          implementation: 'Outside the sandbox: the organisation\'s rules for passphrases, key rotation and revocation.',
          scope:
            'A person must show the rules for handing out and rotating passphrases and keys, and that holders were told how to handle them.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Key store settings.', automated: true },
        { type: 'technical_documentation', description: 'Key and passphrase handling procedure.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of key rotation and revocations.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'A.5.18',
      name: 'Access rights',
      description: 'Access rights are provisioned, reviewed, changed and removed according to the access control policy.',
      category: 'security',
      controls: [
        {
          id: 'a.5.18-rights-changes',
          name: 'Changes to access rights recorded',
          description: 'Every change to an agent\'s rights is recorded with who made it.',
          implementation: 'Policy updates, rejected updates and revocations are audit records.',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes are recorded with their author. It does not check that each change was authorised under the policy.',
        },
        {
          id: 'a.5.18-rights-review',
          name: 'Regular review of access rights',
          description: 'Access rights of agents and operators are reviewed at planned intervals.',
          implementation: 'Outside the sandbox: a reviewer compares granted rights with current needs.',
          scope:
            'A person must review agent policies and operator rights at planned intervals and show that unneeded rights were removed.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Policy change and rejected-change records.', automated: true },
        { type: 'attestation', description: 'Access rights review records.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Access rights review.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'A.5.28',
      name: 'Collection of evidence',
      description: 'Procedures identify, collect, acquire and preserve evidence about information security events.',
      category: 'operational',
      controls: [
        {
          id: 'a.5.28-tamper-evident-records',
          name: 'Tamper-evident records',
          description: 'Records of events can be shown to be unaltered.',
          implementation: 'The audit chain is a hash chain and Merkle tree with signed checkpoints; incidents carry a signed audit slice with inclusion proofs.',
          check: 'audit-integrity',
          scope:
            'Checks the audit chain verifies for the period (no gaps, record hashes, signed and witnessed checkpoints). It does not establish chain of custody for copies taken off the system.',
        },
        {
          id: 'a.5.28-evidence-retained',
          name: 'Evidence kept long enough',
          description: 'Records are kept as long as the organisation needs them as evidence.',
          implementation: 'Records are pruned only on request, keeping the rest verifiable from a signed anchor.',
          check: 'retention',
          scope:
            'Checks the log keeps records at least as long as the retention the organisation configured. It does not check legal holds.',
        },
        {
          id: 'a.5.28-evidence-procedure',
          name: 'Evidence handling procedure',
          description: 'A procedure says how evidence is collected, preserved and handed over, with chain of custody.',
          implementation: 'Outside the sandbox: the organisation\'s evidence procedure, using audit exports and incident forensic snapshots.',
          scope:
            'A person must show the evidence procedure and, for incidents of the period, the chain-of-custody records of exported evidence.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Audit chain verification result and incident forensic snapshots.', automated: true },
        { type: 'technical_documentation', description: 'Evidence collection and chain-of-custody procedure.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Verification of the audit chain.', frequency: 'daily' },
      ],
    },
    {
      id: 'A.8.2',
      name: 'Privileged access rights',
      description: 'Allocation and use of privileged access rights is restricted and managed.',
      category: 'security',
      controls: [
        {
          id: 'a.8.2-no-privileged-grants',
          name: 'Privileged capabilities withheld from agents',
          description: 'Agents are not given system-level capabilities or write access to sensitive paths.',
          implementation: 'Forbidden capabilities are a hard exclusion checked before a component runs; sensitive mounts are read-only.',
          check: 'least-privilege',
          scope:
            'Checks forbidden capabilities are set and no sensitive path is mounted read-write. It does not cover privileged accounts of people on the hosts.',
        },
        {
          id: 'a.8.2-privileged-actions-recorded',
          name: 'Privileged changes attributed',
          description: 'Changes made with privileged rights (policy changes) are recorded with who made them.',
          implementation: 'Policy updates and rejected updates are audit records naming their author.',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes are recorded with their author. It does not cover administrative actions outside the sandbox.',
        },
        {
          id: 'a.8.2-admin-accounts',
          name: 'Operator and administrator accounts',
          description: 'Administrative access to hosts, key stores and the dashboard is limited to named people and reviewed.',
          implementation: 'Outside the sandbox: the organisation\'s privileged access management; dashboard actions need a token.',
          scope:
            'A person must show who holds administrative access to the hosts, key stores and dashboard token, and its latest review.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Forbidden capabilities and mounts of the policies in force.', automated: true },
        { type: 'attestation', description: 'List and review of privileged accounts.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of privileged accounts.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'A.8.3',
      name: 'Information access restriction',
      description: 'Access to information and other associated assets is restricted according to the access control policy.',
      category: 'security',
      controls: [
        {
          id: 'a.8.3-restricted-access',
          name: 'Agents reach only granted information',
          description: 'Files, hosts, tools and data are reachable only where a policy grants them.',
          implementation: 'Mounts, file globs, network rules, tool lists and data policies are enforced per call; forbidden paths look missing.',
          check: 'least-privilege',
          scope:
            'Checks policies deny by default with no wildcard hosts or ports and no read-write sensitive mounts. It does not check classification of the information itself.',
        },
        {
          id: 'a.8.3-data-access-recorded',
          name: 'Access to classified data recorded',
          description: 'Reads and writes of classified data are recorded per agent and data id.',
          implementation: 'Data policies classify data ids; each access decision is an audit record naming the agent and data id.',
          check: 'data-access-logging',
          scope:
            'Checks access to data covered by data policies is recorded per agent and data id. It does not cover data no data policy names.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Policies and data policies in force.', automated: true },
        { type: 'audit_logs', description: 'Data access records.', automated: true },
      ],
      monitoring: [
        { type: 'continuous', description: 'Every access decision is recorded.', frequency: 'continuous' },
      ],
    },
    {
      id: 'A.8.5',
      name: 'Secure authentication',
      description: 'Secure authentication technologies and procedures are implemented according to access restrictions.',
      category: 'security',
      controls: [
        {
          id: 'a.8.5-agent-authentication',
          name: 'Strong authentication of agents',
          description: 'Agents authenticate with keys, certificates and key-bound tokens before every decision.',
          implementation: 'Mutual authentication (challenge, signature, certificate, revocation check) and EdDSA tokens bound to the agent\'s key.',
          check: 'authentication',
          scope:
            'Checks agents ran under identities (mutual authentication, tokens) and failures were recorded and acted on. It does not cover authentication of people.',
        },
        {
          id: 'a.8.5-operator-mfa',
          name: 'Multi-factor authentication for operators',
          description: 'People who administer the hosts, keys or dashboard authenticate with more than one factor.',
          implementation: 'Outside the sandbox: the organisation\'s authentication for host and administrative access.',
          scope:
            'A person must show that operators use multi-factor authentication for host and administrative access.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Authentication success and failure records.', automated: true },
        { type: 'technical_documentation', description: 'Operator authentication configuration.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Repeated authentication failures raise brute-force alerts.', frequency: 'continuous' },
      ],
    },
    {
      id: 'A.8.9',
      name: 'Configuration management',
      description: 'Configurations, security configurations included, are established, documented, implemented, monitored and reviewed.',
      category: 'operational',
      controls: [
        {
          id: 'a.8.9-config-changes',
          name: 'Configuration changes recorded',
          description: 'Every change to agent policies, and every rejected change, is recorded with its author.',
          implementation: 'Policies are validated before replacing a working one; updates and rejections are audit records.',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes are recorded with their author. It does not cover host or runtime configuration.',
        },
        {
          id: 'a.8.9-secure-baseline',
          name: 'Secure baseline for policies',
          description: 'The configuration in force meets a deny-by-default baseline.',
          implementation: 'The gate denies by default; `agentos policy check` lints for allow-all grants and shadowed rules.',
          check: 'least-privilege',
          scope:
            'Checks policies have no wildcard hosts or ports, no read-write sensitive mounts and set forbidden capabilities. It does not compare them with a documented baseline.',
        },
        {
          id: 'a.8.9-documented-templates',
          name: 'Documented configuration templates',
          description: 'Standard configurations are documented and reviewed.',
          implementation: 'Outside the sandbox: policy templates and host hardening standards kept under version control.',
          scope:
            'A person must show the documented policy templates and host hardening standard, and their latest review.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Policies in force.', automated: true },
        { type: 'audit_logs', description: 'Policy change records.', automated: true },
        { type: 'technical_documentation', description: 'Configuration templates and hardening standard.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Policy changes are recorded as they happen.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of configurations against templates.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'A.8.12',
      name: 'Data leakage prevention',
      description: 'Measures against data leakage are applied to systems, networks and devices that handle sensitive information.',
      category: 'security',
      controls: [
        {
          id: 'a.8.12-egress-restriction',
          name: 'Egress limited to named destinations',
          description: 'Agents can send data only to named hosts, ports and protocols.',
          implementation: 'The gate decides each outgoing request; sockets and DNS are denied; listed indicators are blocked.',
          check: 'network-restriction',
          scope:
            'Checks egress is limited to named hosts, ports and protocols. It does not inspect content sent to allowed destinations.',
        },
        {
          id: 'a.8.12-data-access-recorded',
          name: 'Access to sensitive data recorded',
          description: 'Access to classified data is recorded so leaks can be traced.',
          implementation: 'Data policies classify data ids; access decisions are audit records per agent and data id.',
          check: 'data-access-logging',
          scope:
            'Checks access to data covered by data policies is recorded per agent and data id. It does not detect leakage by itself.',
        },
        {
          id: 'a.8.12-classification',
          name: 'Classification of sensitive data',
          description: 'Sensitive data is identified and classified so it can be protected.',
          implementation: 'Outside the sandbox: the organisation classifies data; data policies carry the classification.',
          scope:
            'A person must show the data classification and that sensitive data agents can reach is covered by data policies.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Network rules and data policies in force.', automated: true },
        { type: 'audit_logs', description: 'Data access and denied-connection records.', automated: true },
      ],
      monitoring: [
        { type: 'continuous', description: 'Unusual destinations and volumes raise monitor alerts.', frequency: 'continuous' },
      ],
    },
    {
      id: 'A.8.15',
      name: 'Logging',
      description: 'Logs of activities, exceptions, faults and other relevant events are produced, stored, protected and analysed.',
      category: 'operational',
      controls: [
        {
          id: 'a.8.15-decisions-logged',
          name: 'Activities recorded',
          description: 'Every operation of an agent, allowed or denied, is recorded.',
          implementation: 'Every gate decision, lifecycle event and policy change is an audit record; the gate fails closed if the log cannot write.',
          check: 'decisions-logged',
          scope:
            'Checks every gate decision of the period is a record and none was refused for want of the log. It does not cover logs of the hosts.',
        },
        {
          id: 'a.8.15-log-protection',
          name: 'Logs protected from tampering',
          description: 'Logs cannot be changed or deleted without detection.',
          implementation: 'Hash chain, Merkle tree, signed checkpoints and an optional witness on other storage.',
          check: 'audit-integrity',
          scope:
            'Checks the audit chain verifies for the period: no gaps, every record\'s hash, signed and witnessed checkpoints. It does not check who can read the log.',
        },
        {
          id: 'a.8.15-log-retention',
          name: 'Logs kept',
          description: 'Logs are kept for the period the logging policy sets.',
          implementation: 'Records are pruned only on request, leaving a signed anchor checkpoint.',
          check: 'retention',
          scope:
            'Checks the log keeps records at least as long as the retention the organisation configured. It does not check copies held elsewhere.',
        },
        {
          id: 'a.8.15-log-access',
          name: 'Access to logs restricted',
          description: 'Only authorised people can read or administer the logs.',
          implementation: 'Outside the sandbox: file permissions of the audit directory and witness storage.',
          scope:
            'A person must show who can read and administer the audit directory and witness, and that the list is reviewed.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Audit chain of the period and its verification result.', automated: true },
        { type: 'technical_documentation', description: 'Logging policy with its retention period.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Records are appended and checkpointed as events happen.', frequency: 'continuous' },
        { type: 'periodic', description: 'Verification of the audit chain.', frequency: 'daily' },
      ],
    },
    {
      id: 'A.8.16',
      name: 'Monitoring activities',
      description: 'Networks, systems and applications are monitored for anomalous behaviour, and action is taken on possible incidents.',
      category: 'operational',
      controls: [
        {
          id: 'a.8.16-security-monitor',
          name: 'Anomaly and attack detection',
          description: 'Agent behaviour is monitored for attacks and departures from its baseline.',
          implementation: 'The security monitor runs rules, policy thresholds, per-type anomaly baselines and threat indicators over every event.',
          check: 'monitoring',
          scope:
            'Checks the monitor ran for the period and its alerts were recorded. It does not cover monitoring of hosts and networks.',
        },
        {
          id: 'a.8.16-action-on-alerts',
          name: 'Action on detected incidents',
          description: 'Compromised agents are contained and incidents are resolved.',
          implementation: 'Containing alerts quarantine the agent and open an incident with a forensic snapshot.',
          check: 'incident-response',
          scope:
            'Checks incidents were contained and resolved within the stated time. It does not check the handling of alerts that opened no incident.',
        },
        {
          id: 'a.8.16-host-monitoring',
          name: 'Monitoring beyond the sandbox',
          description: 'Hosts and networks running the sandbox are monitored as well.',
          implementation: 'Outside the sandbox: host and network monitoring, fed by the sandbox\'s alert channels and metrics.',
          scope:
            'A person must show that hosts and networks are monitored and that sandbox alerts reach the team that acts on them.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Security alerts and incident records.', automated: true },
        { type: 'technical_documentation', description: 'Monitoring design covering hosts and networks.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'The monitor analyses every recorded event.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of alert thresholds and baselines.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'A.8.20',
      name: 'Networks security',
      description: 'Networks and network devices are secured, managed and controlled to protect information in systems and applications.',
      category: 'security',
      controls: [
        {
          id: 'a.8.20-egress-control',
          name: 'Agent network access controlled',
          description: 'Agents reach only named hosts, ports and protocols; raw sockets and DNS are denied.',
          implementation: 'The gate decides each outgoing request; native agents go through the egress proxy.',
          check: 'network-restriction',
          scope:
            'Checks egress of the policies is limited to named hosts, ports and protocols. It does not cover network devices, segmentation or inbound traffic.',
        },
        {
          id: 'a.8.20-network-devices',
          name: 'Network devices and segmentation',
          description: 'Network devices are hardened and networks segmented.',
          implementation: 'Outside the sandbox: the organisation\'s network management.',
          scope:
            'A person must show the network segmentation and device configuration around the hosts, and that connections use TLS.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Network rules of the policies in force.', automated: true },
        { type: 'technical_documentation', description: 'Network diagram and device configuration standard.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Denied connections are recorded and unusual destinations raise alerts.', frequency: 'continuous' },
      ],
    },
    {
      id: 'A.8.24',
      name: 'Use of cryptography',
      description: 'Rules for the effective use of cryptography, including key management, are defined and applied.',
      category: 'security',
      controls: [
        {
          id: 'a.8.24-encryption-at-rest',
          name: 'Secrets encrypted at rest',
          description: 'Private keys are stored encrypted.',
          implementation: 'AES-256-GCM under a scrypt-derived key in the key store.',
          check: 'encryption-at-rest',
          scope:
            'Checks the secrets in the key store are encrypted at rest. It does not cover data agents handle or storage outside the key store.',
        },
        {
          id: 'a.8.24-key-management',
          name: 'Key management',
          description: 'Keys are generated, rotated, revoked and destroyed under a defined procedure.',
          implementation: 'The key store supports rotation with overlap and revocation; the procedure around it is the organisation\'s.',
          scope:
            'A person must show the cryptography and key management policy, and rotation and revocation records for the period.',
        },
        {
          id: 'a.8.24-transmission-encryption',
          name: 'Encryption in transit',
          description: 'Information in transit is protected with TLS.',
          implementation: 'Policies default to https, but the sandbox does not terminate or verify TLS itself.',
          scope:
            'A person must show that connections carrying sensitive information use TLS with current versions and ciphers.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Key store settings.', automated: true },
        { type: 'technical_documentation', description: 'Cryptography and key management policy.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of algorithms, key ages and rotations.', frequency: 'annually' },
      ],
    },
  ],
};
