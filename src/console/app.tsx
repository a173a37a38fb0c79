/** The console: the login page until there is a session, then the page the hash names. */
import { useEffect, useState } from 'preact/hooks';
import { currentSession, logout, onUnauthorized, type Session } from './api.ts';
import { Layout } from './components/layout.tsx';
import { PageHeading } from './components/page-heading.tsx';
import { AdminOnly, HostsPage, PoolsPage, SettingsPage } from './pages/admin-pages.tsx';
import { EventsPage } from './pages/events-page.tsx';
import { LoginPage } from './pages/login-page.tsx';
import { SchedulesPage, serverHasSchedules } from './pages/schedules-page.tsx';
import { VmListPage } from './pages/vm-list-page.tsx';
import { VmPage } from './pages/vm-page.tsx';
import { href, navigate, useRoute, type Route } from './router.ts';

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | undefined>(currentSession);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [schedules, setSchedules] = useState(false);
  // Schedules (issue 13) show only where the server has the policy API.
  useEffect(() => {
    if (session === undefined) return;
    serverHasSchedules().then(setSchedules, () => setSchedules(false));
  }, [session]);
  useEffect(
    () =>
      onUnauthorized(() => {
        setSession(undefined);
        setNotice('Your session has ended. Log in again.');
      }),
    [],
  );
  if (session === undefined) {
    return (
      <LoginPage
        notice={notice}
        onLoggedIn={(s) => {
          setNotice(undefined);
          setSession(s);
          if (route.page === 'login') navigate({ page: 'vms' });
        }}
      />
    );
  }
  const onLogout = async (): Promise<void> => {
    try {
      await logout();
    } finally {
      setSession(undefined);
      setNotice('You are logged out.');
      navigate({ page: 'login' });
    }
  };
  return (
    <Layout session={session} route={route} showSchedules={schedules} onLogout={() => void onLogout()}>
      <Page route={route} session={session} />
    </Layout>
  );
}

function Page({ route, session }: { route: Route; session: Session }) {
  switch (route.page) {
    case 'login':
    case 'vms':
      return <VmListPage isAdmin={session.isAdmin} />;
    case 'vm':
      return <VmPage key={route.id} id={route.id} isAdmin={session.isAdmin} />;
    case 'events':
      return <EventsPage />;
    case 'hosts':
      return session.isAdmin ? <HostsPage /> : <AdminOnly />;
    case 'pools':
      return session.isAdmin ? <PoolsPage /> : <AdminOnly />;
    case 'settings':
      return session.isAdmin ? <SettingsPage /> : <AdminOnly />;
    case 'schedules':
      return <SchedulesPage />;
    case 'not-found':
      return (
        <>
          <PageHeading title="Page not found" />
          <p>
            There is no such page. <a href={href({ page: 'vms' })}>Go to the instances</a>.
          </p>
        </>
      );
  }
}
