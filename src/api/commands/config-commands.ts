/** listConfigurations / updateConfiguration (admin): vmsnapshot.max and friends. */
import { InvalidParameterError } from '../../core/errors.ts';
import { INT32_RANGE, parseStrictInteger, SAFE_LONG_RANGE } from '../../core/strict-integer.ts';
import { SETTINGS, settingDefinition } from '../../store/settings-store.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import { matchesKeyword, pagedList } from '../list-support.ts';

function render(name: string, value: string): Record<string, unknown> {
  const def = settingDefinition(name);
  return {
    name,
    value,
    defaultvalue: def?.defaultValue,
    category: def?.category,
    description: def?.description,
    type: def?.type,
    isdynamic: true,
    scope: 'global',
    ...(def?.options !== undefined ? { options: def.options.join(',') } : {}),
  };
}

export const listConfigurations = defineCommand({
  name: 'listConfigurations',
  description: 'Lists all configurations (admin)',
  admin: true,
  params: {
    name: param.string('Lists configuration by name'),
    category: param.string('Lists configurations by category'),
    ...listParams,
  },
  async handler({ app, args, reader }) {
    const items = SETTINGS.filter((s) => args.name === undefined || s.name.includes(args.name))
      .filter((s) => args.category === undefined || s.category === args.category)
      .filter((s) => matchesKeyword(args.keyword, s.name, s.description));
    return pagedList(app, reader, 'configuration', items, (s) =>
      render(s.name, app.deps.settings.get(s.name)),
    );
  },
});

export const updateConfiguration = defineCommand({
  name: 'updateConfiguration',
  description: 'Updates a configuration (admin); takes effect at once',
  admin: true,
  params: {
    name: required(param.string('The name of the configuration')),
    value: param.string('The value of the configuration', 4096),
  },
  async handler({ app, args }) {
    const def = settingDefinition(args.name);
    if (def === undefined) throw new InvalidParameterError(`Configuration ${args.name} does not exist`);
    const value = args.value ?? def.defaultValue;
    // A number setting is read with Number() on every use: only a plain decimal integer within the
    // type's range may be stored, or `1e9` / `0x10` / an int overflow would mean something else there.
    const range = def.type === 'Integer' ? INT32_RANGE : def.type === 'Long' ? SAFE_LONG_RANGE : undefined;
    if (range !== undefined && parseStrictInteger(value, range) === null) {
      throw new InvalidParameterError(`Configuration ${args.name} must be a number, got ${value}`);
    }
    if (def.options !== undefined && !def.options.includes(value)) {
      throw new InvalidParameterError(
        `Configuration ${args.name} must be one of ${def.options.join(', ')}, got ${value}`,
      );
    }
    await app.deps.settings.set(args.name, value);
    return { configuration: render(args.name, value) };
  },
});
