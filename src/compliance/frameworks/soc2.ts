import type { ComplianceFramework } from '../types.js';

/**
 * SOC 2: the AICPA Trust Services Criteria (2017), with the points of focus revised in 2022 —
 * the common criteria of the Security category that a runtime for agents touches: logical access
 * (CC6), system operations (CC7) and change management (CC8). Names and descriptions are our
 * own summaries, not the criteria's text.
 */
export const SOC2: ComplianceFramework = {
  id: 'soc2',
  name: 'SOC 2 (Trust Services Criteria, Security)',
  version: '2017 TSC (rev. 2022)',
  revision: 1,
  retentionBasis:
    'The Trust Services Criteria set no retention period for audit logs; the organisation sets one (commonly at least the examination period), and the retention check is assessed against the retention the organisation configured.',
  assessmentIntervalDays: 365,
  requirements: [
    {
      id: 'CC6.1',
      name: 'Logical access security over protected information assets',
      description:
        'Logical access software, infrastructure and architecture restrict access to protected information assets, and encryption protects data and its keys.',
      category: 'security',
      controls: [
        {
          id: 'cc6.1-least-privilege',
          name: 'Deny-by-default access for agents',
          description: 'Agents can reach only the files, hosts, tools and capabilities their policy names.',
          implementation: 'Every capability call is decided by the policy gate, which denies anything the policy does not grant.',
          check: 'least-privilege',
          scope:
            'Checks the loaded policies deny by default: no wildcard hosts or ports, no read-write mounts of sensitive paths, forbidden capabilities set. It does not judge whether each grant is needed for the agent\'s task.',
        },
        {
          id: 'cc6.1-key-encryption',
          name: 'Encryption of secrets at rest',
          description: 'Private keys used for signing and identity are stored encrypted.',
          implementation: 'The key store encrypts private keys with AES-256-GCM under a passphrase-derived key (scrypt).',
          check: 'encryption-at-rest',
          scope:
            'Checks the secrets in the key store are encrypted at rest. It does not cover data the agents read or write, databases, backups or other storage outside the key store.',
        },
        {
          id: 'cc6.1-asset-inventory',
          name: 'Inventory of protected assets and access architecture',
          description: 'The protected information assets and the points through which they are accessed are identified.',
          implementation: 'Outside the sandbox: the organisation documents which data and systems agents may reach and why.',
          scope:
            'A person must keep an inventory of the information assets agents can reach (mounts, hosts, tools, data ids) and show it was reviewed and approved by management.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'The sandbox policies in force for the period (capabilities, mounts, network rules, data policies).', automated: true },
        { type: 'technical_documentation', description: 'Asset inventory and access architecture description, approved by management.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of agent policies against the asset inventory.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'CC6.2',
      name: 'Registration and authorisation before credentials are issued',
      description:
        'Users and system identities are registered and authorised before credentials are issued, and credentials are removed when no longer needed.',
      category: 'security',
      controls: [
        {
          id: 'cc6.2-agent-identities',
          name: 'Each agent runs under its own identity',
          description: 'Every agent instance gets its own identity and credentials, which expire and can be revoked.',
          implementation: 'The sandbox issues each instance an identity with its own key pair, a time to live and optional session tokens; revoked or expired identities are refused.',
          check: 'authentication',
          scope:
            'Checks agents ran under identities (mutual authentication, tokens) and that authentication failures were recorded and acted on. It does not cover how human operators and publishers are registered.',
        },
        {
          id: 'cc6.2-credential-approval',
          name: 'Approval of publisher keys and operator access',
          description: 'Signing keys, certificates and operator credentials are issued only after approval and withdrawn when no longer needed.',
          implementation: 'Outside the sandbox: the organisation approves who may hold signing keys, issue certificates or operate the sandbox.',
          scope:
            'A person must show the approval records for issued signing keys, certificates and operator accounts, and that leavers\' credentials were revoked.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Authentication success and failure records of the period.', automated: true },
        { type: 'attestation', description: 'Approval records for signing keys, certificates and operator accounts.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Authentication failures are recorded and raise alerts by the monitor\'s rules.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of issued keys, certificates and operator accounts.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'CC6.3',
      name: 'Role-based, least-privilege authorisation and its changes',
      description:
        'Access to data, software and functions is granted, changed and removed according to roles and least privilege, with segregation of duties.',
      category: 'security',
      controls: [
        {
          id: 'cc6.3-least-privilege',
          name: 'Least-privilege agent policies',
          description: 'Agent access is limited to what the policy, its roles and access policies grant.',
          implementation: 'Roles, access policies and capability rules are combined by the gate with default deny and deny overriding allow.',
          check: 'least-privilege',
          scope:
            'Checks the policies deny by default and grant no wildcard hosts, ports or read-write sensitive mounts. It does not check that role assignments match job functions.',
        },
        {
          id: 'cc6.3-access-changes',
          name: 'Changes to access are recorded',
          description: 'Every change to an agent\'s access, and every rejected change, is recorded with who made it.',
          implementation: 'Policy updates and rejected updates are audit records (policy_updated, policy_rejected).',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes of the period are recorded with their author. It does not check that each change was approved before it was made.',
        },
        {
          id: 'cc6.3-access-review',
          name: 'Periodic access review',
          description: 'Access granted to agents and operators is reviewed and excess access removed.',
          implementation: 'Outside the sandbox: a reviewer compares policies and role assignments with current needs.',
          scope:
            'A person must review agent policies and operator roles at least quarterly, record the outcome and show that excess access was removed.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Policies, roles and access policies in force.', automated: true },
        { type: 'audit_logs', description: 'Policy change and rejected-change records with their authors.', automated: true },
        { type: 'attestation', description: 'Signed access review records.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Policy changes are recorded as they happen.', frequency: 'continuous' },
        { type: 'periodic', description: 'Access review of agent policies and operator roles.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'CC6.6',
      name: 'Protection against threats from outside the system boundary',
      description:
        'Logical access measures restrict and protect the connections between the system and sources outside its boundaries.',
      category: 'security',
      controls: [
        {
          id: 'cc6.6-egress-restriction',
          name: 'Egress limited to named destinations',
          description: 'Agents can connect only to the hosts, ports and protocols their policy names.',
          implementation: 'Outgoing requests are decided per host, port and scheme by the gate; sockets and DNS are denied; threat-intelligence indicators are blocked.',
          check: 'network-restriction',
          scope:
            'Checks network egress of the policies is limited to named hosts, ports and protocols. It does not cover inbound traffic, firewalls or the network around the host.',
        },
        {
          id: 'cc6.6-boundary-protection',
          name: 'Boundary protection of the host',
          description: 'The hosts running the sandbox are protected at their network boundary.',
          implementation: 'Outside the sandbox: firewalls and network segmentation around the hosts; the dashboard listens only on loopback.',
          scope:
            'A person must show the firewall and segmentation rules protecting the hosts that run the sandbox, and that they were reviewed.',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Network rules of the policies in force.', automated: true },
        { type: 'technical_documentation', description: 'Network diagram and firewall rules of the hosting environment.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Denied connections are recorded and unusual destinations raise monitor alerts.', frequency: 'continuous' },
      ],
    },
    {
      id: 'CC6.7',
      name: 'Restriction and protection of information in transmission',
      description:
        'The transmission, movement and removal of information is limited to authorised users and processes, and information is protected while transmitted.',
      category: 'security',
      controls: [
        {
          id: 'cc6.7-egress-restriction',
          name: 'Information leaves only to named destinations',
          description: 'Agents can send data only to the destinations and through the tools their policy allows.',
          implementation: 'The gate decides every outgoing request and tool call; response sizes and outputs are capped.',
          check: 'network-restriction',
          scope:
            'Checks egress is limited to named hosts, ports and protocols. It does not inspect what data is sent to an allowed destination.',
        },
        {
          id: 'cc6.7-transmission-encryption',
          name: 'Encryption in transit',
          description: 'Information sent over networks is protected by TLS.',
          implementation: 'Policies default to the https scheme, but the sandbox does not terminate TLS and does not verify it end to end.',
          scope:
            'A person must show that connections carrying protected information use TLS with current protocol versions and ciphers (for example, that policies allow only https and that the endpoints\' TLS configuration was reviewed).',
        },
      ],
      evidence: [
        { type: 'configuration', description: 'Network rules and protocols of the policies in force.', automated: true },
        { type: 'technical_documentation', description: 'TLS configuration of the endpoints agents reach.', automated: false },
      ],
      monitoring: [
        { type: 'periodic', description: 'Review of allowed destinations and their TLS configuration.', frequency: 'quarterly' },
      ],
    },
    {
      id: 'CC6.8',
      name: 'Prevention and detection of unauthorised or malicious software',
      description: 'Controls prevent or detect the introduction of unauthorised or malicious software.',
      category: 'security',
      controls: [
        {
          id: 'cc6.8-signed-components',
          name: 'Only signed, verified components run',
          description: 'Agent components run only when signed by a trusted key and unchanged since signing.',
          implementation: 'With a trust store, components that are unsigned, altered, expired or signed by an unknown or revoked key are refused; listed component hashes are blocked.',
          check: 'component-integrity',
          scope:
            'Checks the components that ran were signed and verified. It does not scan for malware and does not cover software installed on the host.',
        },
        {
          id: 'cc6.8-host-malware-protection',
          name: 'Malware protection of the hosts',
          description: 'The hosts and build systems are protected against malicious software.',
          implementation: 'Outside the sandbox: endpoint protection and controlled software installation on hosts and build machines.',
          scope:
            'A person must show that malware protection and software installation controls are in place on the hosts and the systems that build and sign components.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Component load and signature verification records.', automated: true },
        { type: 'configuration', description: 'Trust store and signature requirement in force.', automated: true },
      ],
      monitoring: [
        { type: 'continuous', description: 'Refused components are recorded as they are loaded.', frequency: 'continuous' },
      ],
    },
    {
      id: 'CC7.1',
      name: 'Detection of configuration changes and vulnerabilities',
      description:
        'Detection and monitoring procedures identify configuration changes that introduce vulnerabilities and susceptibility to newly found vulnerabilities.',
      category: 'operational',
      controls: [
        {
          id: 'cc7.1-configuration-changes',
          name: 'Configuration changes are recorded',
          description: 'Changes to the security configuration of agents are recorded and attributable.',
          implementation: 'Every policy change and every rejected change is an audit record with who made it.',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes are recorded with their author. It does not judge whether a change introduced a vulnerability.',
        },
        {
          id: 'cc7.1-vulnerability-management',
          name: 'Vulnerability scanning and patching',
          description: 'The runtime, its dependencies and its hosts are scanned for known vulnerabilities and patched.',
          implementation: 'Outside the sandbox: dependency and host vulnerability scanning with a patching process.',
          scope:
            'A person must show vulnerability scan results for the runtime, its dependencies and hosts, and the remediation of findings within the organisation\'s time limits.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Policy change and rejected-change records.', automated: true },
        { type: 'technical_documentation', description: 'Vulnerability scan reports and remediation tickets.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Configuration changes are recorded as they happen.', frequency: 'continuous' },
        { type: 'periodic', description: 'Vulnerability scanning of the runtime, dependencies and hosts.', frequency: 'monthly' },
      ],
    },
    {
      id: 'CC7.2',
      name: 'Monitoring of system components for anomalies',
      description:
        'System components and their operation are monitored for anomalies that indicate malicious acts, disasters or errors, and the monitoring itself is kept effective.',
      category: 'operational',
      controls: [
        {
          id: 'cc7.2-security-monitoring',
          name: 'Security monitor',
          description: 'Recorded events are analysed for attacks and anomalies, and alerts are raised.',
          implementation: 'The security monitor runs rule, policy, anomaly and indicator detectors over every recorded event and records its alerts in the audit chain.',
          check: 'monitoring',
          scope:
            'Checks the security monitor ran for the period and its alerts were recorded. It does not cover monitoring of the hosts or networks around the sandbox.',
        },
        {
          id: 'cc7.2-decisions-logged',
          name: 'Every decision is recorded',
          description: 'All allowed and denied operations of agents are recorded.',
          implementation: 'Every gate decision is an audit record; if the log cannot write, calls are refused (fail closed).',
          check: 'decisions-logged',
          scope:
            'Checks every gate decision of the period is a record and none was refused for want of the log. It does not cover logs of systems outside the sandbox.',
        },
        {
          id: 'cc7.2-log-integrity',
          name: 'Tamper-evident audit log',
          description: 'Audit records cannot be altered or removed without detection.',
          implementation: 'Records form a hash chain and Merkle tree with signed (and optionally witnessed) checkpoints.',
          check: 'audit-integrity',
          scope:
            'Checks the audit chain verifies for the period: no gaps, every record\'s hash, signed and witnessed checkpoints. It does not prove that the records are complete beyond what the gate saw.',
        },
        {
          id: 'cc7.2-log-retention',
          name: 'Audit records retained',
          description: 'Audit records are kept long enough to investigate events of the examination period.',
          implementation: 'Records are pruned only on request, leaving a signed anchor checkpoint.',
          check: 'retention',
          scope:
            'Checks the log keeps records at least as long as the retention the organisation configured (SOC 2 sets no period). It does not check copies held elsewhere.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Audit chain of the period with its verification result and security alerts.', automated: true },
        { type: 'technical_documentation', description: 'Description of the monitoring of the hosts and networks around the sandbox.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'The security monitor analyses every recorded event.', frequency: 'continuous' },
        { type: 'periodic', description: 'Verification of the audit chain.', frequency: 'daily' },
      ],
    },
    {
      id: 'CC7.3',
      name: 'Evaluation of security events',
      description:
        'Security events are evaluated to decide whether they are incidents that could prevent the organisation meeting its objectives, and action is taken.',
      category: 'operational',
      controls: [
        {
          id: 'cc7.3-alert-evaluation',
          name: 'Alerts are classified and recorded',
          description: 'Detected events are classified by type and severity, and high-severity ones open incidents.',
          implementation: 'The monitor records each alert with its type, severity and evidence records; high or containing alerts open incidents.',
          check: 'monitoring',
          scope:
            'Checks the monitor ran and its alerts were recorded for the period. It does not judge whether a person reviewed each alert or whether its classification was right.',
        },
        {
          id: 'cc7.3-triage-procedure',
          name: 'Triage of alerts by a person',
          description: 'A defined procedure assigns alerts to someone who decides whether they are incidents.',
          implementation: 'Outside the sandbox: the organisation\'s on-call or security team reviews alerts delivered to its channels.',
          scope:
            'A person must show the triage procedure and records that alerts of the period were reviewed, with the decision taken for each.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Security alert records with their evidence references.', automated: true },
        { type: 'attestation', description: 'Triage records for the alerts of the period.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Alerts are raised and delivered to channels as events arrive.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of open alerts and their triage.', frequency: 'weekly' },
      ],
    },
    {
      id: 'CC7.4',
      name: 'Response to security incidents',
      description:
        'Identified incidents are handled by a defined response programme that understands, contains, remediates and communicates them.',
      category: 'operational',
      controls: [
        {
          id: 'cc7.4-containment',
          name: 'Containment and resolution of incidents',
          description: 'Compromised agents are contained and incidents are resolved within the stated time.',
          implementation: 'Containing alerts quarantine the agent (calls refused, instance stopped, identity revoked) and open an incident with a forensic snapshot; releases and resolutions record who and why.',
          check: 'incident-response',
          scope:
            'Checks incidents of the period were contained and resolved within the stated time. It does not cover root-cause analysis, remediation outside the sandbox or communication to affected parties.',
        },
        {
          id: 'cc7.4-response-plan',
          name: 'Incident response plan',
          description: 'A documented, tested plan says who does what, including communication to customers and authorities.',
          implementation: 'Outside the sandbox: the organisation\'s incident response plan, which uses the sandbox\'s incidents and forensic snapshots.',
          scope:
            'A person must show the approved incident response plan, its latest test or exercise, and the communications and lessons learned for incidents of the period.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Incident records: detection, containment, release and resolution with who and why.', automated: true },
        { type: 'technical_documentation', description: 'Incident response plan and exercise report.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Containment follows a containing alert at once.', frequency: 'continuous' },
        { type: 'periodic', description: 'Incident response exercise.', frequency: 'annually' },
      ],
    },
    {
      id: 'CC8.1',
      name: 'Change management',
      description:
        'Changes to infrastructure, data, software and procedures are authorised, designed, tested, approved and implemented in a controlled way.',
      category: 'operational',
      controls: [
        {
          id: 'cc8.1-policy-changes',
          name: 'Policy changes recorded and validated',
          description: 'Changes to agent policies are validated before they take effect and recorded with who made them.',
          implementation: 'A policy update is validated first; a policy that fails to load never replaces a working one; updates and rejections are audit records.',
          check: 'change-management',
          scope:
            'Checks policy changes and rejected changes are recorded with their author. It does not check that a change was approved or tested before it was made.',
        },
        {
          id: 'cc8.1-signed-releases',
          name: 'Only signed agent releases run',
          description: 'New or changed agent components must be signed by an authorised publisher before they run.',
          implementation: 'Components are signed with their claims (hash, agent type, capabilities); altered or unsigned components are refused.',
          check: 'component-integrity',
          scope:
            'Checks the components that ran were signed and verified. It does not check the review and testing that preceded signing.',
        },
        {
          id: 'cc8.1-change-approval',
          name: 'Change approval and testing',
          description: 'Changes are reviewed, tested and approved by someone other than their author before release.',
          implementation: 'Outside the sandbox: the organisation\'s change process (reviews, tests, approvals) for policies, components and the runtime.',
          scope:
            'A person must show, for a sample of the period\'s changes, the review, test results and approval that preceded them.',
        },
      ],
      evidence: [
        { type: 'audit_logs', description: 'Policy change, rejected-change and component load records.', automated: true },
        { type: 'attestation', description: 'Change tickets with review, test and approval for a sample of changes.', automated: false },
      ],
      monitoring: [
        { type: 'continuous', description: 'Policy changes and component loads are recorded as they happen.', frequency: 'continuous' },
        { type: 'periodic', description: 'Review of changes against approved change tickets.', frequency: 'monthly' },
      ],
    },
  ],
};
