/** CloudStack's login: username, password and (rarely changed) domain. */
import { useId, useState } from 'preact/hooks';
import { describe, login, type Session } from '../api.ts';
import { PageHeading } from '../components/page-heading.tsx';

export interface LoginProps {
  readonly notice: string | undefined;
  readonly onLoggedIn: (session: Session) => void;
}

export function LoginPage({ notice, onLoggedIn }: LoginProps) {
  const id = useId();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [domain, setDomain] = useState('/');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onLoggedIn(await login(username.trim(), password, domain.trim() || '/'));
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  };
  return (
    <main id="main" class="login">
      <PageHeading title="Log in to vmsnap" />
      {notice !== undefined && <p class="notice">{notice}</p>}
      <form class="stack card" onSubmit={submit}>
        <div class="field">
          <label for={`${id}-username`}>Username</label>
          <input
            id={`${id}-username`}
            name="username"
            autocomplete="username"
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for={`${id}-password`}>Password</label>
          <input
            id={`${id}-password`}
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for={`${id}-domain`}>Domain</label>
          <input
            id={`${id}-domain`}
            name="domain"
            value={domain}
            onInput={(e) => setDomain(e.currentTarget.value)}
          />
        </div>
        <button type="submit" class="primary" disabled={busy}>
          Log in
        </button>
        <p role="alert" class="error">
          {error}
        </p>
      </form>
    </main>
  );
}
