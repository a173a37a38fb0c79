/** addHost (admin): bring real KVM hosts and their VMs under vmsnap. */
import { InvalidParameterError } from '../../core/errors.ts';
import { defineCommand, param, required } from '../command.ts';
import { loadLookups } from '../render/lookups.ts';

export const addHost = defineCommand({
  name: 'addHost',
  description:
    'Adds a KVM host running `vmsnap agent` (admin). url = the agent URL (http:// or https://host:8250), password = the agent token; its VMs and pools are imported. ' +
    'For https, the agent certificate is pinned: give certfingerprint, or the certificate presented now is trusted on first use (certpinning in the response).',
  admin: true,
  params: {
    zoneid: required(param.uuid('The Zone ID for the host')),
    hypervisor: required(param.string('Hypervisor type of the host: KVM')),
    url: required(param.string('The host agent URL, e.g. https://10.0.0.5:8250 (http and https only)')),
    username: param.string('The username for the host (accepted for compatibility)'),
    password: required(param.string('The agent token (VMSNAP_AGENT_TOKEN or --token-file of vmsnap agent)')),
    podid: param.uuid('Accepted for compatibility; vmsnap has no pods'),
    clusterid: param.uuid('Accepted for compatibility; vmsnap has no clusters'),
    hostname: param.string('vmsnap: a display name for the host (default: the URL host name)'),
    certfingerprint: param.string(
      'vmsnap: SHA-256 fingerprint of the agent TLS certificate (https URLs; hex, colons optional). ' +
        'Without it the certificate the agent presents now is pinned (trust on first use)',
    ),
  },
  async handler({ services, caller, args }) {
    const hypervisor = args.hypervisor.toUpperCase() === 'KVM' ? 'KVM' : undefined;
    if (hypervisor === undefined)
      throw new InvalidParameterError(`Only KVM hosts can be added; got ${args.hypervisor}`);
    const host = await services.hostManager.addHost({
      zoneId: args.zoneid,
      hypervisor,
      url: args.url,
      token: args.password,
      ownerAccountId: caller.accountId,
      ...(args.hostname !== undefined ? { name: args.hostname } : {}),
      ...(args.certfingerprint !== undefined ? { tlsFingerprint: args.certfingerprint } : {}),
    });
    const lookups = await loadLookups(services);
    return {
      count: 1,
      host: [
        {
          id: host.id,
          name: host.name,
          state: host.status,
          type: 'Routing',
          hypervisor: host.hypervisor,
          zoneid: host.zoneId,
          zonename: lookups.zoneName(host.zoneId),
          resourcestate: 'Enabled',
          // vmsnap: the pinned agent certificate, and whether it was given or trusted on first use.
          ...(host.tlsFingerprint !== null
            ? {
                certfingerprint: host.tlsFingerprint,
                certpinning: args.certfingerprint !== undefined ? 'given' : 'trust-on-first-use',
              }
            : {}),
        },
      ],
    };
  },
});
