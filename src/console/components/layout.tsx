/** The frame of every page after login: a skip link, the navigation, who is logged in, "Log out". */
import type { ComponentChildren } from 'preact';
import type { Session } from '../api.ts';
import { href, type Route } from '../router.ts';

interface NavItem {
  readonly route: Route;
  readonly label: string;
  readonly adminOnly: boolean;
}

export interface LayoutProps {
  readonly session: Session;
  readonly route: Route;
  readonly showSchedules: boolean;
  readonly onLogout: () => void;
  readonly children: ComponentChildren;
}

function navItems(showSchedules: boolean): NavItem[] {
  return [
    { route: { page: 'vms' }, label: 'Instances', adminOnly: false },
    ...(showSchedules
      ? [{ route: { page: 'schedules' } as const, label: 'Schedules', adminOnly: false }]
      : []),
    { route: { page: 'events' }, label: 'Events', adminOnly: false },
    { route: { page: 'hosts' }, label: 'Hosts', adminOnly: true },
    { route: { page: 'pools' }, label: 'Storage pools', adminOnly: true },
    { route: { page: 'settings' }, label: 'Settings', adminOnly: true },
  ];
}

/** The VM page belongs to "Instances" in the navigation. */
function section(route: Route): Route['page'] {
  return route.page === 'vm' ? 'vms' : route.page;
}

export function Layout({ session, route, showSchedules, onLogout, children }: LayoutProps) {
  const items = navItems(showSchedules).filter((i) => session.isAdmin || !i.adminOnly);
  return (
    <>
      <a class="skip-link" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">vmsnap</span>
        <nav aria-label="Main">
          <ul>
            {items.map((item) => (
              <li key={item.label}>
                <a
                  href={href(item.route)}
                  aria-current={section(route) === item.route.page ? 'page' : undefined}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="user">
          <span>
            {session.username}
            {session.isAdmin ? ' (admin)' : ''}
          </span>
          <button type="button" onClick={onLogout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

/** The skip link must not change the hash: the hash is the router's. */
function skipToMain(e: MouseEvent): void {
  e.preventDefault();
  document.getElementById('main')?.focus();
}
