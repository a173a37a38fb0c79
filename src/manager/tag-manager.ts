/**
 * Resource tags: the writes of createTags / deleteTags, after the caller's access to every named
 * resource is checked. Tags are owned by the resource's account; another account's resource is
 * reported like a missing one (./access.ts).
 */
import { InvalidParameterError } from '../core/errors.ts';
import { addTags, checkTagRequest, removeTags, type TagSelector } from '../store/tag-store.ts';
import { volumeOwner } from '../store/volume-list-store.ts';
import { policyOwner } from '../store/vm-snapshot-policy-store.ts';
import { loadOwned, type Owned } from './access.ts';
import type { Caller } from './caller.ts';
import type { ManagerDeps } from './manager-deps.ts';

/** The resource types tags may be put on. */
export type TaggedResourceType = 'VMSnapshot' | 'UserVm' | 'Volume' | 'VMSnapshotPolicy';

export class TagManager {
  constructor(private readonly deps: Pick<ManagerDeps, 'db' | 'snapshots' | 'inventory'>) {}

  /** Tags every resource, all or nothing; the request is bounded before anything is read. */
  async create(
    caller: Caller,
    type: TaggedResourceType,
    ids: readonly string[],
    tags: readonly { key: string; value: string }[],
  ): Promise<void> {
    checkTagRequest(tags, ids.length);
    const resources: { id: string; owner: string }[] = [];
    for (const id of ids) resources.push({ id, owner: await this.ownerOf(caller, type, id) });
    await addTags(this.deps.db, { resourceType: type, resources, tags, now: Date.now() });
  }

  /** Removes the selected tags (all, without selectors) of every resource the caller may see. */
  async delete(
    caller: Caller,
    type: TaggedResourceType,
    ids: readonly string[],
    selectors: readonly TagSelector[],
  ): Promise<void> {
    checkTagRequest(selectors, ids.length);
    for (const id of ids) await this.ownerOf(caller, type, id);
    await removeTags(this.deps.db, type, ids, selectors);
  }

  /** The resource's owner; another account's resource gets the answer for a missing one. */
  private async ownerOf(caller: Caller, type: TaggedResourceType, id: string): Promise<string> {
    const load = async (): Promise<Owned | undefined> => {
      const owner = await this.ownerAccount(type, id);
      return owner === undefined ? undefined : { accountId: owner };
    };
    const notFound = (): InvalidParameterError =>
      new InvalidParameterError(`Unable to find resource by id ${id} and type ${type}`);
    return (await loadOwned(caller, load, notFound)).accountId;
  }

  private async ownerAccount(type: TaggedResourceType, id: string): Promise<string | undefined> {
    switch (type) {
      case 'VMSnapshot':
        return (await this.deps.snapshots.get(id))?.accountId;
      case 'UserVm':
        return (await this.deps.inventory.getVm(id))?.accountId;
      case 'Volume':
        return volumeOwner(this.deps.db, id);
      case 'VMSnapshotPolicy':
        return policyOwner(this.deps.db, id);
    }
  }
}
