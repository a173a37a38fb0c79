/**
 * Issue 10, item 9: updateConfiguration checks each number setting's range, not only its type
 * (`vmsnapshot.max=-5`, `vmsnapshot.freeze.budget=-1` and `default.page.size=0` were accepted, and
 * the last emptied every list). Refused values answer 431 and leave the setting as it was.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS, type SettingDefinition } from '../../src/store/settings-store.ts';
import { bodyOf, errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

describe('updateConfiguration ranges', () => {
  let h: ApiHarness;

  beforeAll(async () => {
    h = await startApiServer();
  });
  afterAll(async () => {
    await h.close();
  });

  const update = (name: string, value: string) => h.admin.call('updateConfiguration', { name, value });
  const current = (name: string): string => h.t.app.deps.settings.getByName(name);

  async function refused(name: string, value: string): Promise<string> {
    const before = current(name);
    const { errortext } = errorOf(await update(name, value), 'updateConfiguration', 431);
    expect(current(name)).toBe(before);
    return errortext;
  }

  it('refuses the values the report found accepted, naming the range', async () => {
    expect(await refused('vmsnapshot.max', '-5')).toBe(
      'Invalid value for configuration [vmsnapshot.max]: -5 is not in the range [0-2147483647]',
    );
    expect(await refused('vmsnapshot.freeze.budget', '-1')).toContain('[vmsnapshot.freeze.budget]');
    expect(await refused('default.page.size', '0')).toBe(
      'Invalid value for configuration [default.page.size]: 0 is not in the range [1-9007199254740991] or -1',
    );
    // Lists still answer with the default page size.
    expect(itemsOf(await h.demo.payload('listVirtualMachines'), 'virtualmachine').length).toBeGreaterThan(0);
  });

  it('accepts -1 where it means unlimited or never, and the bounds themselves', async () => {
    for (const [name, value] of [
      ['default.page.size', '-1'],
      ['default.page.size', '1'],
      ['max.account.cpus', '-1'],
      ['max.account.cpus', '0'],
      ['job.expire.minutes', '-1'],
      ['vmsnapshot.max', '0'],
    ]) {
      const res = await update(name!, value!);
      expect(res.status, res.text).toBe(200);
      expect((bodyOf(res, 'updateConfiguration')['configuration'] as { value: string }).value).toBe(value);
    }
    for (const name of ['default.page.size', 'max.account.cpus', 'job.expire.minutes', 'vmsnapshot.max']) {
      expect((await update(name, SETTINGS.find((s) => s.name === name)!.defaultValue)).status).toBe(200);
    }
  });

  it('every ranged setting takes exactly the values in its range (property)', async () => {
    const ranged = (SETTINGS as readonly SettingDefinition[]).flatMap((s) =>
      s.range === undefined ? [] : [{ name: s.name, defaultValue: s.defaultValue, range: s.range }],
    );
    expect(ranged.length).toBeGreaterThanOrEqual(9);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ranged),
        fc.integer({ min: -3, max: 3 }),
        fc.boolean(),
        async (def, delta, nearMax) => {
          const { min, max } = def.range;
          const n = (nearMax ? max : min) + delta;
          const ok = (n >= min && n <= max) || (def.range.minusOne === true && n === -1);
          const res = await update(def.name, String(n));
          if (ok) expect(res.status, `${def.name}=${n}`).toBe(200);
          else errorOf(res, 'updateConfiguration', 431);
          await update(def.name, def.defaultValue);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('setting names are typed: a misspelt name does not compile', () => {
    const settings = h.t.app.deps.settings;
    // @ts-expect-error 'vmsnapshot.mx' is not a setting name.
    expect(() => settings.getNumber('vmsnapshot.mx')).toThrow('unknown setting vmsnapshot.mx');
    expect(settings.getNumber('vmsnapshot.max')).toBe(10);
  });
});
