/**
 * Response payloads and their serialization, in CloudStack's shapes (reference §6.3, §6.5):
 * `{"<command lowercased>response": payload}` in JSON, the same tree in XML.
 */
import { describeError } from '../../core/errors.ts';
import { formatCloudStackDate } from './dates.ts';
import { toXml } from './xml.ts';

export { toXml, escapeXml } from './xml.ts';

/** `yyyy-MM-dd'T'HH:mm:ssZ` in UTC, e.g. `2024-01-02T06:44:43+0000`. */
export const formatDate = formatCloudStackDate;

export type ResponseFormat = 'json' | 'xml';

/** CloudStack's `json.content.type` default and HttpUtils.XML_CONTENT_TYPE. */
export const JSON_CONTENT_TYPE = 'application/json; charset=UTF-8';
export const XML_CONTENT_TYPE = 'text/xml; charset=UTF-8';

/** `listVMSnapshot` -> `listvmsnapshotresponse`. */
export function responseName(command: string): string {
  return `${command.toLowerCase()}response`;
}

export function envelope<T extends object>(command: string, payload: T): Record<string, T> {
  return { [responseName(command)]: payload };
}

/**
 * A list payload as ApiResponseSerializer writes it: `count` only when non-zero, the array only when
 * non-empty. So an empty result is `{}`, and a page past the end is `{count: N}`.
 */
export function listPayload(
  objectName: string,
  items: readonly object[],
  count: number,
): Record<string, unknown> {
  const payload: Record<string, unknown> = {};
  if (count !== 0) payload.count = count;
  if (items.length > 0) payload[objectName] = items;
  return payload;
}

/** ExceptionResponse, in CloudStack's field order. */
export interface ErrorPayload {
  uuidList: string[];
  errorcode: number;
  cserrorcode?: number;
  errortext: string;
}

/** `cserrorcode` is left out when undefined (e.g. the 401 signature failure carries none). */
export function errorPayload(
  code: number,
  text: string,
  csErrorCode?: number,
  uuidList: string[] = [],
): ErrorPayload {
  return csErrorCode === undefined
    ? { uuidList, errorcode: code, errortext: text }
    : { uuidList, errorcode: code, cserrorcode: csErrorCode, errortext: text };
}

/** The error payload and HTTP status (= errorcode) for any thrown value; non-CloudErrors are 530. */
export function errorPayloadFor(err: unknown): ErrorPayload {
  const { code, csCode, text } = describeError(err);
  return errorPayload(code, text, csCode);
}

/** JSON.stringify with Dates in CloudStack's format (a replacer sees Dates already as ISO text). */
function toJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const original = this[key];
    return original instanceof Date ? formatCloudStackDate(original.getTime()) : v;
  });
}

export interface SerializedResponse {
  contentType: string;
  body: string;
}

export function serialize(
  command: string,
  payload: object,
  format: ResponseFormat,
  cloudStackVersion: string,
): SerializedResponse {
  switch (format) {
    case 'json':
      return { contentType: JSON_CONTENT_TYPE, body: toJson(envelope(command, payload)) };
    case 'xml':
      return {
        contentType: XML_CONTENT_TYPE,
        body: toXml(responseName(command), payload, cloudStackVersion),
      };
    default: {
      const unreachable: never = format;
      throw new Error(`unknown response format ${String(unreachable)}`);
    }
  }
}
