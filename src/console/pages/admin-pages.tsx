/** The administrator's pages: hosts, storage pools with their provider, and the settings. */
import type { ComponentChildren } from 'preact';
import { call, rowsOf } from '../api.ts';
import { PageHeading } from '../components/page-heading.tsx';
import { bytes, when, type ConfigRow, type HostRow, type PoolRow } from '../model.ts';
import { useApi, type Loaded } from '../use-api.ts';

/** A page of one table: heading, refresh, errors in words, and the rows once loaded. */
function TablePage<T>(props: {
  title: string;
  caption: string;
  empty: string;
  loaded: Loaded<T[]>;
  head: ComponentChildren;
  row: (item: T) => ComponentChildren;
}) {
  const { title, caption, empty, loaded, head, row } = props;
  return (
    <>
      <PageHeading title={title} />
      <div class="toolbar">
        <button type="button" onClick={() => void loaded.reload()}>
          Refresh
        </button>
      </div>
      {loaded.error !== undefined && (
        <p role="alert" class="error">
          {loaded.error}
        </p>
      )}
      {loaded.data === undefined ? (
        <p>Loading…</p>
      ) : loaded.data.length === 0 ? (
        <p>{empty}</p>
      ) : (
        <table>
          <caption>{caption}</caption>
          <thead>{head}</thead>
          <tbody>{loaded.data.map(row)}</tbody>
        </table>
      )}
    </>
  );
}

export function HostsPage() {
  const hosts = useApi(
    async () => rowsOf<HostRow>(await call('listHosts', { page: 1, pagesize: 500 }), 'host'),
    [],
  );
  return (
    <TablePage
      title="Hosts"
      caption="Hypervisor hosts"
      empty="No hosts."
      loaded={hosts}
      head={
        <tr>
          <th scope="col">Name</th>
          <th scope="col">State</th>
          <th scope="col">Hypervisor</th>
          <th scope="col">Zone</th>
          <th scope="col">Address</th>
          <th scope="col">Last heartbeat</th>
        </tr>
      }
      row={(h) => (
        <tr key={h.id}>
          <th scope="row">{h.name}</th>
          <td>{h.state}</td>
          <td>{h.hypervisor}</td>
          <td>{h.zonename}</td>
          <td>{h.ipaddress ?? 'None'}</td>
          <td>{when(h.lastpinged)}</td>
        </tr>
      )}
    />
  );
}

export function PoolsPage() {
  const pools = useApi(
    async () => rowsOf<PoolRow>(await call('listStoragePools', { page: 1, pagesize: 500 }), 'storagepool'),
    [],
  );
  return (
    <TablePage
      title="Storage pools"
      caption="Primary storage pools and the provider that serves each"
      empty="No storage pools."
      loaded={pools}
      head={
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Provider</th>
          <th scope="col">Type</th>
          <th scope="col">State</th>
          <th scope="col">Scope</th>
          <th scope="col">Zone</th>
          <th scope="col">Used of total</th>
          <th scope="col">URL</th>
        </tr>
      }
      row={(p) => (
        <tr key={p.id}>
          <th scope="row">{p.name}</th>
          <td>{p.provider}</td>
          <td>{p.type}</td>
          <td>{p.state}</td>
          <td>{p.scope}</td>
          <td>{p.zonename}</td>
          <td>
            {bytes(p.disksizeused)} of {bytes(p.disksizetotal)}
          </td>
          <td>
            <code>{p.url}</code>
          </td>
        </tr>
      )}
    />
  );
}

export function SettingsPage() {
  const settings = useApi(
    async () =>
      rowsOf<ConfigRow>(await call('listConfigurations', { page: 1, pagesize: 500 }), 'configuration'),
    [],
  );
  return (
    <TablePage
      title="Settings"
      caption="Global settings (change them with updateConfiguration)"
      empty="No settings."
      loaded={settings}
      head={
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Value</th>
          <th scope="col">Description</th>
        </tr>
      }
      row={(c) => (
        <tr key={c.name}>
          <th scope="row">
            <code>{c.name}</code>
          </th>
          <td>
            <code>{c.value}</code>
          </td>
          <td>{c.description}</td>
        </tr>
      )}
    />
  );
}

export function AdminOnly() {
  return (
    <>
      <PageHeading title="For administrators" />
      <p>This page is for administrators. Log in as one to see it.</p>
    </>
  );
}
