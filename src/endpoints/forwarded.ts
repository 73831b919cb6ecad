/**
 * RFC 7239 `Forwarded`: `for=192.0.2.60;proto=https;host=example.com, for="[2001:db8::1]:4711"`.
 * One element per proxy hop, the client-most first; each a `;`-separated list of `name=value`
 * pairs whose value is a token or a quoted string (which may hold `,`, `;` and `\`-escapes).
 */
export interface ForwardedElement {
  for?: string;
  proto?: string;
  host?: string;
  by?: string;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const NAMES = new Set(['for', 'proto', 'host', 'by']);

/** The header's elements in order, or undefined when it is not valid RFC 7239 syntax. */
export function parseForwarded(header: string): ForwardedElement[] | undefined {
  const elements: ForwardedElement[] = [];
  let element: ForwardedElement = {};
  let i = 0;
  const skipSpaces = () => {
    while (header[i] === ' ' || header[i] === '\t') i += 1;
  };
  for (;;) {
    skipSpaces();
    const equals = header.indexOf('=', i);
    if (equals === -1) return undefined;
    const name = header.slice(i, equals).trim().toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    i = equals + 1;
    let value = '';
    if (header[i] === '"') {
      i += 1;
      for (;;) {
        const c = header[i];
        if (c === undefined) return undefined;
        i += 1;
        if (c === '"') break;
        if (c === '\\') {
          const escaped = header[i];
          if (escaped === undefined) return undefined;
          value += escaped;
          i += 1;
        } else value += c;
      }
    } else {
      const start = i;
      while (i < header.length && header[i] !== ';' && header[i] !== ',') i += 1;
      value = header.slice(start, i).trim();
      if (!TOKEN.test(value)) return undefined;
    }
    // A parameter given twice in one element is invalid (RFC 7239 section 4); unknown ones are ignored.
    if (NAMES.has(name)) {
      if (element[name as keyof ForwardedElement] !== undefined) return undefined;
      element[name as keyof ForwardedElement] = value;
    }
    skipSpaces();
    const separator = header[i];
    i += 1;
    if (separator === ';') continue;
    elements.push(element);
    if (separator === undefined) return elements;
    if (separator !== ',') return undefined;
    element = {};
  }
}

/**
 * The address in a `for=` value: `192.0.2.60`, `"[2001:db8::1]:4711"` → `2001:db8::1`, and
 * `192.0.2.60:8080` → `192.0.2.60`. Undefined for obfuscated identifiers (`_hidden`) and `unknown`.
 */
export function forwardedAddress(value: string): string | undefined {
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed) return bracketed[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?$/.exec(value);
  return v4 ? v4[1] : undefined;
}
