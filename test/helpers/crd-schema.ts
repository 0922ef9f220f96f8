/**
 * A small validator for the subset of OpenAPI v3 / JSON Schema that Kubernetes CRD
 * structural schemas use (KServe's among them): type, required, properties, items,
 * enum, additionalProperties, anyOf, the x-kubernetes int-or-string and
 * preserve-unknown-fields markers, and the length/range/pattern bounds. As with
 * `kubectl apply --validate=strict`, a field the schema does not know is an error,
 * so a misspelt field cannot pass. Returns every problem, each with its path.
 */
export type Schema = {
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
  additionalProperties?: boolean | Schema;
  anyOf?: Schema[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
};

export function validateSchema(value: unknown, schema: Schema, path = '$'): string[] {
  if (schema['x-kubernetes-int-or-string']) {
    return typeof value === 'string' || Number.isInteger(value) ? [] : [`${path}: expected an integer or a string`];
  }
  if (schema.anyOf && !schema.anyOf.some((s) => validateSchema(value, s, path).length === 0)) {
    return [`${path}: matches none of anyOf`];
  }
  const typeErr = checkType(value, schema.type, path);
  if (typeErr) return [typeErr];
  const errs: string[] = [];
  if (schema.enum && !schema.enum.some((e) => e === value))
    errs.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') errs.push(...stringBounds(value, schema, path));
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errs.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errs.push(`${path}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errs.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.items) for (const [i, v] of value.entries()) errs.push(...validateSchema(v, schema.items, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    errs.push(...objectErrors(value as Record<string, unknown>, schema, path));
  }
  return errs;
}

function checkType(value: unknown, type: string | undefined, path: string): string | undefined {
  const ok =
    type === undefined ||
    (type === 'object' && typeof value === 'object' && value !== null && !Array.isArray(value)) ||
    (type === 'array' && Array.isArray(value)) ||
    (type === 'string' && typeof value === 'string') ||
    (type === 'integer' && Number.isInteger(value)) ||
    (type === 'number' && typeof value === 'number') ||
    (type === 'boolean' && typeof value === 'boolean');
  return ok ? undefined : `${path}: expected ${type}, got ${Array.isArray(value) ? 'array' : typeof value}`;
}

function stringBounds(value: string, schema: Schema, path: string): string[] {
  const errs: string[] = [];
  if (schema.minLength !== undefined && value.length < schema.minLength) errs.push(`${path}: shorter than ${schema.minLength}`);
  if (schema.maxLength !== undefined && value.length > schema.maxLength) errs.push(`${path}: longer than ${schema.maxLength}`);
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) errs.push(`${path}: does not match ${schema.pattern}`);
  return errs;
}

function objectErrors(value: Record<string, unknown>, schema: Schema, path: string): string[] {
  const errs: string[] = [];
  for (const r of schema.required ?? []) if (!(r in value)) errs.push(`${path}: missing required ${r}`);
  const props = schema.properties ?? {};
  for (const [k, v] of Object.entries(value)) {
    const p = props[k];
    if (p) errs.push(...validateSchema(v, p, `${path}.${k}`));
    else if (typeof schema.additionalProperties === 'object') errs.push(...validateSchema(v, schema.additionalProperties, `${path}.${k}`));
    else if (schema.additionalProperties === true || schema['x-kubernetes-preserve-unknown-fields']) continue;
    else if (schema.properties !== undefined || schema.additionalProperties === false) errs.push(`${path}.${k}: unknown field`);
  }
  return errs;
}
