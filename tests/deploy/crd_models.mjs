// Validates custom resources against the JSON schemas that @kubernetes-models packages generate
// from the operators' own CRDs. Reads a JSON list of objects on stdin; prints one JSON list of
// {kind, name, error} (error null when valid). Usage: node crd_models.mjs NODE_MODULES_DIR
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

const nodeModules = process.argv[2];
const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) {
  const [group, version] = obj.apiVersion.split("/");
  const pkg = PACKAGES[group];
  const name = obj.metadata?.name ?? null;
  if (!pkg) {
    results.push({ kind: obj.kind, name, error: `no model package for ${group}` });
    continue;
  }
  const file = join(nodeModules, pkg, group, version, `${obj.kind}.js`);
  try {
    const module = await import(pathToFileURL(file).href);
    const Model = module[obj.kind] ?? module.default;
    new Model(obj).validate();
    results.push({ kind: obj.kind, name, error: null });
  } catch (err) {
    results.push({ kind: obj.kind, name, error: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(results));
