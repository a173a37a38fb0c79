/** The audit trail (listEvents), newest first. */
import { call, rowsOf } from '../api.ts';
import { PageHeading } from '../components/page-heading.tsx';
import { when, type EventRow } from '../model.ts';
import { useApi } from '../use-api.ts';

export function EventsPage() {
  const events = useApi(
    async () =>
      rowsOf<EventRow>(await call('listEvents', { listall: true, page: 1, pagesize: 200 }), 'event'),
    [],
  );
  return (
    <>
      <PageHeading title="Events" />
      <div class="toolbar">
        <button type="button" onClick={() => void events.reload()}>
          Refresh
        </button>
      </div>
      {events.error !== undefined && (
        <p role="alert" class="error">
          {events.error}
        </p>
      )}
      {events.data === undefined ? (
        <p>Loading events…</p>
      ) : events.data.length === 0 ? (
        <p>No events yet.</p>
      ) : (
        <table>
          <caption>The latest events, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Level</th>
              <th scope="col">Type</th>
              <th scope="col">Description</th>
              <th scope="col">User</th>
              <th scope="col">Account</th>
            </tr>
          </thead>
          <tbody>
            {events.data.map((e) => (
              <tr key={e.id}>
                <td>{when(e.created)}</td>
                <td>
                  <span class={`level level-${e.level.toLowerCase()}`}>{e.level}</span>
                </td>
                <td>{e.type}</td>
                <td>{e.description}</td>
                <td>{e.username}</td>
                <td>{e.account}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
