/**
 * A hash router: the page is in `location.hash` (`#/vms/<id>`), so every page has an address that
 * survives a reload and the back button, and the server serves one document for all of them.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly page: 'login' }
  | { readonly page: 'vms' }
  | { readonly page: 'vm'; readonly id: string }
  | { readonly page: 'events' }
  | { readonly page: 'hosts' }
  | { readonly page: 'pools' }
  | { readonly page: 'settings' }
  | { readonly page: 'schedules' }
  | { readonly page: 'not-found'; readonly path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/vms';
  const parts = path.split('/').filter((p) => p !== '');
  const [first, second] = parts;
  if (first === undefined) return { page: 'vms' };
  if (first === 'vms' && second !== undefined) return { page: 'vm', id: decodeURIComponent(second) };
  if (parts.length === 1) {
    switch (first) {
      case 'login':
      case 'vms':
      case 'events':
      case 'hosts':
      case 'pools':
      case 'settings':
      case 'schedules':
        return { page: first };
    }
  }
  return { page: 'not-found', path };
}

export function href(route: Route): string {
  if (route.page === 'vm') return `#/vms/${encodeURIComponent(route.id)}`;
  if (route.page === 'not-found') return `#${route.path}`;
  return `#/${route.page}`;
}

export function navigate(route: Route): void {
  location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = (): void => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}
