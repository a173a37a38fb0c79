/** listConfigurations / updateConfiguration (admin): vmsnapshot.max and friends. */
import { InvalidParameterError } from '../../core/errors.ts';
import { checkSettingValue, isSettingName, SETTINGS, settingDefinition } from '../../store/settings-store.ts';
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
  async handler({ services, args, reader }) {
    const items = SETTINGS.filter((s) => args.name === undefined || s.name.includes(args.name))
      .filter((s) => args.category === undefined || s.category === args.category)
      .filter((s) => matchesKeyword(args.keyword, s.name, s.description));
    return pagedList(services, reader, 'configuration', items, (s) =>
      render(s.name, services.settings.get(s.name)),
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
  async handler({ services, args }) {
    const def = settingDefinition(args.name);
    if (def === undefined || !isSettingName(args.name))
      throw new InvalidParameterError(`Configuration ${args.name} does not exist`);
    const value = args.value ?? def.defaultValue;
    checkSettingValue(def, value);
    await services.settings.set(args.name, value);
    return { configuration: render(args.name, value) };
  },
});
