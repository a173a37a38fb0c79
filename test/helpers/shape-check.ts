/**
 * A small checker for recorded CloudStack response shapes (test/api/fixtures/*.json). A shape maps a
 * field name to a type spec:
 * - `"string" | "integer" | "number" | "boolean" | "object" | "array" | "uuid" | "cloudstack-date"`;
 * - a trailing `?` makes the field optional (checked only when present);
 * - `"enum:A|B|C"` (a string out of a set), `"enum-int:0|1|2"` (a number out of a set),
 *   `"const:true"` (exactly that JSON value);
 * - `{"$shape": "name"}` a nested object of a named shape, `{"$array": "name"}` an array of them.
 * Fields a shape does not name are allowed: CloudStack clients ignore unknown fields.
 */
export type TypeSpec = string | { readonly $shape: string } | { readonly $array: string };
export type Shape = Readonly<Record<string, TypeSpec>>;
export type Shapes = Readonly<Record<string, Shape>>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** CloudStack's `yyyy-MM-dd'T'HH:mm:ssZ`, e.g. `2024-01-02T06:44:43+0000`. */
export const CLOUDSTACK_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkScalar(value: unknown, type: string): boolean {
  if (type.startsWith('enum:')) return typeof value === 'string' && type.slice(5).split('|').includes(value);
  if (type.startsWith('enum-int:'))
    return typeof value === 'number' && type.slice(9).split('|').map(Number).includes(value);
  if (type.startsWith('const:')) return JSON.stringify(value) === type.slice(6);
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return isRecord(value);
    case 'array':
      return Array.isArray(value);
    case 'uuid':
      return typeof value === 'string' && UUID.test(value);
    case 'cloudstack-date':
      return typeof value === 'string' && CLOUDSTACK_DATE.test(value);
    default:
      throw new Error(`unknown type spec ${type}`);
  }
}

/** Every way `value` deviates from shape `shapeName`, as `path: problem` lines (empty when it fits). */
export function shapeProblems(value: unknown, shapeName: string, shapes: Shapes, path = shapeName): string[] {
  const shape = shapes[shapeName];
  if (shape === undefined) throw new Error(`no shape named ${shapeName}`);
  if (!isRecord(value)) return [`${path}: expected an object, got ${JSON.stringify(value)}`];
  const problems: string[] = [];
  for (const [field, spec] of Object.entries(shape)) {
    const optional = typeof spec === 'string' && spec.endsWith('?');
    const at = `${path}.${field}`;
    if (!(field in value)) {
      if (!optional) problems.push(`${at}: missing`);
      continue;
    }
    problems.push(...specProblems(value[field], optional ? spec.slice(0, -1) : spec, shapes, at));
  }
  return problems;
}

function specProblems(value: unknown, spec: TypeSpec, shapes: Shapes, at: string): string[] {
  if (typeof spec === 'string') {
    return checkScalar(value, spec) ? [] : [`${at}: expected ${spec}, got ${JSON.stringify(value)}`];
  }
  if ('$shape' in spec) return shapeProblems(value, spec.$shape, shapes, at);
  if (!Array.isArray(value)) return [`${at}: expected an array, got ${JSON.stringify(value)}`];
  return value.flatMap((item, i) => shapeProblems(item, spec.$array, shapes, `${at}[${i}]`));
}
