import type { z } from 'zod';

/**
 * Just enough introspection of the zod schema to map environment variable names onto config keys
 * (case-insensitively) and to list allowed keys in error messages. It reads zod's public `_zod.def`.
 */

type AnySchema = z.ZodType;
interface Def {
  type: string;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  innerType?: AnySchema;
  in?: AnySchema;
  options?: AnySchema[];
}

function defOf(schema: AnySchema): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strip wrappers (optional, default, pipe...) down to the schemas that carry structure. */
function unwrap(schema: AnySchema): AnySchema[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return def.innerType ? unwrap(def.innerType) : [schema];
    case 'pipe':
      return def.in ? unwrap(def.in) : [schema];
    case 'union':
      return (def.options ?? []).flatMap(unwrap);
    default:
      return [schema];
  }
}

/** The object keys allowed at a schema node (union members merged), or [] if it is not an object. */
export function objectKeys(schema: AnySchema): string[] {
  const keys = new Set<string>();
  for (const node of unwrap(schema)) {
    const def = defOf(node);
    if (def.type === 'object' && def.shape) for (const key of Object.keys(def.shape)) keys.add(key);
  }
  return [...keys];
}

/** The schema for one step down: an object key (matched case-insensitively) or an array index. */
export function childSchema(schema: AnySchema, segment: string): { key: string | number; schema: AnySchema } | undefined {
  for (const node of unwrap(schema)) {
    const def = defOf(node);
    if (def.type === 'array' && def.element && /^\d+$/.test(segment)) {
      return { key: Number(segment), schema: def.element };
    }
    if (def.type === 'object' && def.shape) {
      const key = Object.keys(def.shape).find((k) => k.toLowerCase() === segment.toLowerCase());
      if (key && def.shape[key]) return { key, schema: def.shape[key] };
    }
  }
  return undefined;
}

/** Follow a validated issue path to the schema node it points at. */
export function schemaAt(schema: AnySchema, path: readonly PropertyKey[]): AnySchema | undefined {
  let node: AnySchema | undefined = schema;
  for (const segment of path) {
    if (!node) return undefined;
    node = childSchema(node, String(segment))?.schema;
  }
  return node;
}
