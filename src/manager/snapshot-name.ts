/** CloudStack's generated snapshot name: `<instance name>_VS_<yyyyMMddHHmmss in UTC>`. */
export function generateSnapshotName(instanceName: string, at: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const stamp =
    `${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}` +
    `${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`;
  return `${instanceName}_VS_${stamp}`;
}

/**
 * The generated name is the snapshot's tag on the hypervisor, so it must be unique among the VM's live
 * snapshots: two snapshots taken within one second would otherwise share a tag, the second take would
 * fail and deleting either would delete the other's data. On a clash the stamp moves on a second.
 */
export function uniqueSnapshotName(instanceName: string, at: Date, taken: ReadonlySet<string>): string {
  for (let offset = 0; ; offset++) {
    const name = generateSnapshotName(instanceName, new Date(at.getTime() + offset * 1000));
    if (!taken.has(name)) return name;
  }
}
