import type { ComplianceFramework } from '../types.js';
import { GDPR } from './gdpr.js';
import { HIPAA } from './hipaa.js';
import { ISO27001 } from './iso27001.js';
import { PCI_DSS } from './pci-dss.js';
import { SOC2 } from './soc2.js';

export { GDPR, HIPAA, ISO27001, PCI_DSS, SOC2 };

/** The frameworks, in the order reports list them. */
export const FRAMEWORKS: readonly ComplianceFramework[] = [SOC2, ISO27001, GDPR, HIPAA, PCI_DSS];

/** The framework `--framework` names (`soc2`, `iso27001`, `gdpr`, `hipaa`, `pci-dss`), if any. */
export function frameworkById(id: string): ComplianceFramework | undefined {
  return FRAMEWORKS.find((f) => f.id === id);
}
