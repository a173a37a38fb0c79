/**
 * CloudStack's XML response shape (ApiResponseSerializer.toXMLSerializedString), from the same
 * payload objects that are serialized as JSON:
 * `<?xml version="1.0" encoding="UTF-8"?><root cloud-stack-version="4.20.0.0">…</root>`.
 * - a field becomes `<name>text</name>`; a nested object becomes `<name>…fields…</name>`;
 * - an array becomes one element per item, each named after the array's key (so the `vmSnapshot`
 *   array of a list is a run of `<vmSnapshot>` elements, and an empty array emits nothing);
 * - null and undefined fields are omitted; Dates use CloudStack's date format.
 */
import { formatCloudStackDate } from './dates.ts';

const XML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

// Characters XML 1.0 cannot carry at all, not even escaped: C0 controls other than tab/LF/CR,
// U+FFFE/U+FFFF and unpaired surrogates. They become U+FFFD so the document stays well-formed.
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Escapes text content as CloudStack's escapeSpecialXmlChars does (`& < > " '`). */
export function escapeXml(text: string): string {
  return text.replace(NOT_XML_CHAR, '\uFFFD').replace(/[&<>"']/g, (ch) => XML_ESCAPES[ch] ?? ch);
}

/** Keys are our own field names, but map-like payloads could carry anything: keep names legal. */
function elementName(key: string): string {
  const name = key.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z_]/.test(name) ? name : `_${name}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function textOf(value: unknown): string {
  if (value instanceof Date) return formatCloudStackDate(value.getTime());
  if (typeof value === 'string') return escapeXml(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  // Anything else (a Map, a class instance without enumerable fields...) is not a payload shape;
  // its JSON text is at least readable and escaped.
  return escapeXml(JSON.stringify(value) ?? '');
}

function element(key: string, value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map((item: unknown) => element(key, item)).join('');
  const name = elementName(key);
  const body = isRecord(value) ? fields(value) : textOf(value);
  return `<${name}>${body}</${name}>`;
}

function fields(record: Record<string, unknown>): string {
  return Object.entries(record)
    .map(([key, value]) => element(key, value))
    .join('');
}

/** The complete XML document for a response payload, under root element `rootName`. */
export function toXml(rootName: string, payload: unknown, cloudStackVersion: string): string {
  const root = elementName(rootName);
  const body = isRecord(payload) ? fields(payload) : payload == null ? '' : textOf(payload);
  return `<?xml version="1.0" encoding="UTF-8"?><${root} cloud-stack-version="${escapeXml(cloudStackVersion)}">${body}</${root}>`;
}
