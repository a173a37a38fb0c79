/**
 * Time-ordered UUIDs (version 7, RFC 9562, with a 12-bit counter in `rand_a`). Lists order events
 * and tags by `created` and then by id: rows written in the same millisecond (the tags of one
 * createTags call, the events of one job) keep the order they were written in, and paging in SQL
 * has a total order to rely on. Still ordinary lowercase UUIDs to API clients.
 */
import { randomBytes } from 'node:crypto';

const COUNTER_MAX = 0xfff;

let lastMs = 0;
let counter = 0;

/** A new id that sorts (as text) after every id this process made before it. */
export function sortableId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    // Start low in the counter's range so a burst within one millisecond rarely overflows it.
    counter = randomBytes(1)[0] ?? 0;
  } else if (counter < COUNTER_MAX) {
    counter++;
  } else {
    // Counter spent within one millisecond (or the clock went back): borrow the next one.
    lastMs++;
    counter = 0;
  }
  const time = lastMs.toString(16).padStart(12, '0').slice(-12);
  const rand = randomBytes(8);
  rand[0] = ((rand[0] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
  const tail = rand.toString('hex');
  const version = `7${counter.toString(16).padStart(3, '0')}`;
  return `${time.slice(0, 8)}-${time.slice(8)}-${version}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}
