/**
 * OTEL_RESOURCE_ATTRIBUTES, as the OpenTelemetry spec defines it: `key=value` pairs
 * separated by commas, `,` and `=` (and any other character) percent-encoded. On any
 * error the whole value is discarded, as the spec says (one bad pair would otherwise
 * make the rest mean something else). In a pod it names the pod and its namespace
 * (the Deployment in deploy/kubernetes passes them through the Downward API), so a
 * trace shows which replica served each hop.
 */
export function parseResourceAttributes(raw: string | undefined): Record<string, string> {
  if (raw === undefined || raw.trim() === '') return {};
  const out: Record<string, string> = {};
  try {
    for (const pair of raw.split(',')) {
      if (pair.trim() === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) return {};
      const key = decodeURIComponent(pair.slice(0, eq).trim());
      const value = decodeURIComponent(pair.slice(eq + 1).trim());
      if (key === '') return {};
      out[key] = value;
    }
  } catch {
    return {}; // a malformed percent-escape
  }
  return out;
}
