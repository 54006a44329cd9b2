// Validate Prometheus Operator custom resources (ServiceMonitor, PrometheusRule) with the
// validators @kubernetes-models/prometheus-operator generates from the operator's CRD schemas.
// kubernetes-validate has no schemas for CRDs. Usage: node crd_validate.mjs FILE.json...
// (each file: one resource as JSON). Exit 1 and print the errors when any is invalid.
import { readFileSync } from "node:fs";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const kinds = { ServiceMonitor, PrometheusRule };
let failed = 0;
for (const file of process.argv.slice(2)) {
  const doc = JSON.parse(readFileSync(file, "utf8"));
  const Kind = kinds[doc.kind];
  if (!Kind) {
    console.log(`${file}: no validator for ${doc.apiVersion} ${doc.kind}`);
    failed++;
    continue;
  }
  try {
    new Kind(doc).validate();
    console.log(`${file}: ${doc.kind} ${doc.metadata?.name} valid`);
  } catch (err) {
    console.log(`${file}: ${doc.kind} ${doc.metadata?.name} INVALID: ${err.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
