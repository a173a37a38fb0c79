/**
 * configureSimulator (admin): CloudStack's simulator fault injection. `name` is the command
 * (CloudStack class name such as CreateVMSnapshotCommand, or a vmsnap kind), `value` is
 * `result:fail`, `result:fault`, `wait:<ms>`, `hang`, or `guestagent:present|absent|slow:<ms>|hung`
 * (with virtualmachineid). Scope: zoneid, hostid or virtualmachineid; `count` limits the matches.
 */
import { InvalidParameterError } from '../../core/errors.ts';
import { defineCommand, param, required } from '../command.ts';

export const configureSimulator = defineCommand({
  name: 'configureSimulator',
  description: 'Configures simulator fault injection and guest agents at run time (admin)',
  admin: true,
  params: {
    name: param.string('Command name, e.g. CreateVMSnapshotCommand or * (not needed for guestagent values)'),
    value: required(param.string('result:fail | result:fault | wait:<ms> | hang | guestagent:<mode>')),
    zoneid: param.uuid('Only in this zone'),
    hostid: param.uuid('Only on this host'),
    virtualmachineid: param.uuid('Only for this Instance'),
    count: param.integer('How many times the rule applies; forever when absent'),
    clear: param.boolean('vmsnap: remove every fault rule first'),
  },
  async handler({ services, args }) {
    let vmName: string | undefined;
    if (args.virtualmachineid !== undefined) {
      const vm = await services.inventory.getVm(args.virtualmachineid);
      if (vm === undefined)
        throw new InvalidParameterError(`Unable to find Instance ${args.virtualmachineid}`);
      vmName = vm.instanceName;
    }
    try {
      // Answered once in the database: the next command, through any server, sees the rule.
      const res = await services.simulator.configureDurably({
        value: args.value,
        ...(args.name !== undefined ? { name: args.name } : {}),
        ...(args.zoneid !== undefined ? { zoneId: args.zoneid } : {}),
        ...(args.hostid !== undefined ? { hostId: args.hostid } : {}),
        ...(vmName !== undefined ? { vmName } : {}),
        ...(args.count !== undefined ? { count: args.count } : {}),
        // Cleared by configure only once the whole request is known to be good.
        ...(args.clear === true ? { clear: true } : {}),
      });
      return res.kind === 'fault'
        ? { success: true, id: res.rule.id, displaytext: `fault rule ${res.rule.id} armed` }
        : { success: true, displaytext: `guest agent of ${res.vmName} is ${res.mode}` };
    } catch (err) {
      throw new InvalidParameterError(err instanceof Error ? err.message : String(err));
    }
  },
});
