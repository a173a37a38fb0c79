/**
 * Every API command vmsnap serves. listApis and the README's API reference (`npm run docs:api`) are
 * generated from this list.
 */
import { defineCommand, param, type ApiCommand } from '../command.ts';
import { createAccount, listAccounts, registerUserKeys, updateUser } from './account-commands.ts';
import { login, logout } from './session-commands.ts';
import { listConfigurations, updateConfiguration } from './config-commands.ts';
import { listEvents } from './event-commands.ts';
import { listManagementServers } from './management-server-commands.ts';
import { deployVirtualMachine } from './deploy-vm-command.ts';
import { addHost } from './host-commands.ts';
import { listHosts, listStoragePools, listZones } from './infra-commands.ts';
import {
  createStoragePool,
  deleteStoragePool,
  listStorageProviders,
  updateStoragePool,
} from './storage-pool-commands.ts';
import { listResourceLimits, updateResourceCount, updateResourceLimit } from './resource-limit-commands.ts';
import { listAsyncJobs, queryAsyncJobResult } from './job-commands.ts';
import { configureSimulator } from './simulator-commands.ts';
import { createTags, deleteTags, listTags } from './tag-commands.ts';
import { listVirtualMachines, listVolumes, startVirtualMachine, stopVirtualMachine } from './vm-commands.ts';
import {
  createVMSnapshot,
  deleteVMSnapshot,
  listVMSnapshot,
  revertToVMSnapshot,
} from './vm-snapshot-commands.ts';
import {
  createVMSnapshotPolicy,
  deleteVMSnapshotPolicies,
  listVMSnapshotPolicies,
  previewVMSnapshotPolicyRetention,
  updateVMSnapshotPolicy,
} from './vm-snapshot-policy-commands.ts';

const listApis = defineCommand({
  name: 'listApis',
  description: 'Lists the APIs available to the caller, with their parameters',
  params: { name: param.string('API name') },
  async handler({ caller, args }) {
    const apis = COMMANDS.filter((c) => caller.isAdmin || c.admin !== true).filter(
      (c) => args.name === undefined || c.name.toLowerCase() === args.name.toLowerCase(),
    );
    if (apis.length === 0) return {};
    return {
      count: apis.length,
      api: apis.map((c) => ({
        name: c.name,
        description: c.description,
        isasync: c.async === true,
        since: c.since,
        params: Object.entries(c.params).map(([name, p]) => ({
          name,
          description: p.description,
          type: p.type,
          required: p.required,
        })),
        response: [],
      })),
    };
  },
});

export const COMMANDS: readonly ApiCommand[] = [
  createVMSnapshot,
  listVMSnapshot,
  revertToVMSnapshot,
  deleteVMSnapshot,
  createVMSnapshotPolicy,
  updateVMSnapshotPolicy,
  listVMSnapshotPolicies,
  deleteVMSnapshotPolicies,
  previewVMSnapshotPolicyRetention,
  queryAsyncJobResult,
  listAsyncJobs,
  listZones,
  listVirtualMachines,
  deployVirtualMachine,
  startVirtualMachine,
  stopVirtualMachine,
  listVolumes,
  listHosts,
  addHost,
  listStoragePools,
  listStorageProviders,
  createStoragePool,
  updateStoragePool,
  deleteStoragePool,
  listEvents,
  createTags,
  deleteTags,
  listTags,
  listApis,
  createAccount,
  listAccounts,
  registerUserKeys,
  updateUser,
  login,
  logout,
  listConfigurations,
  updateConfiguration,
  listResourceLimits,
  updateResourceLimit,
  updateResourceCount,
  configureSimulator,
  listManagementServers,
];
